#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one-sided two-proportion z-test `trainer promote --online` decides with (docs/experiments.md):
/// H0 "the challenger's positive rate is not above the control's" against H1 "it is above", with the pooled
/// standard error. Valid when each side has at least ~5 positives and ~5 non-positives (the normal
/// approximation); below that it reports no significance.
public struct ProportionTest: Sendable, Hashable {
    public var controlRate: Double
    public var challengerRate: Double
    public var z: Double
    /// P(Z ≥ z) under H0.
    public var pValue: Double

    /// Nil when either side has no trials.
    public init?(controlPositives: Int, controlTrials: Int, challengerPositives: Int, challengerTrials: Int) {
        guard controlTrials > 0, challengerTrials > 0 else { return nil }
        let p1 = Double(controlPositives) / Double(controlTrials)
        let p2 = Double(challengerPositives) / Double(challengerTrials)
        let pooled = Double(controlPositives + challengerPositives) / Double(controlTrials + challengerTrials)
        let standardError = (pooled * (1 - pooled) * (1 / Double(controlTrials) + 1 / Double(challengerTrials))).squareRoot()
        controlRate = p1
        challengerRate = p2
        if standardError == 0 {
            z = 0
            pValue = 1
        } else {
            z = (p2 - p1) / standardError
            pValue = 0.5 * erfc(z / 2.0.squareRoot())
        }
    }

    /// Whether the challenger wins at significance `alpha`, with enough data for the approximation.
    public func challengerWins(alpha: Double, controlPositives: Int, controlTrials: Int, challengerPositives: Int, challengerTrials: Int) -> Bool {
        let enough = [controlPositives, controlTrials - controlPositives, challengerPositives, challengerTrials - challengerPositives].allSatisfy { $0 >= 5 }
        return enough && pValue < alpha
    }
}
