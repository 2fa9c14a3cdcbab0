/// Exponential backoff with a ceiling, used between reconnection attempts.
public struct Backoff: Sendable, Hashable {
    /// Delay after the first failure.
    public var initial: Duration
    /// The delay never grows beyond this.
    public var maximum: Duration
    /// Growth factor per further failure.
    public var multiplier: Double

    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(2), multiplier: Double = 2) {
        precondition(multiplier >= 1, "backoff must not shrink")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The pause before the next attempt after `failures` consecutive failures (1 = first failure).
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        let factor = power(multiplier, failures - 1)
        let scaled = initial * factor
        return scaled > maximum ? maximum : scaled
    }
}

// Integer exponents only, capped early: avoids Foundation for one function.
private func power(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0
    var remaining = exponent
    while remaining > 0 && result < 1e12 {
        result *= base
        remaining -= 1
    }
    return result
}
