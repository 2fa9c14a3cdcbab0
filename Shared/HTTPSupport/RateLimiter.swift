import ClientRuntime
import Synchronization

/// A token bucket per producer: `ratePerSecond` tokens flow in continuously up to `burst`; each event
/// takes one. A request that needs more tokens than are available takes none and is told when to retry.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let ratePerSecond: Double
    public let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = max(burst, 1)
    }

    /// `nil` if `cost` tokens were taken; otherwise how long until they would be available.
    public func take(_ cost: Int, for producer: String, now: ContinuousClock.Instant = .now) -> Duration? {
        guard ratePerSecond > 0 else { return nil }
        let cost = Double(cost)
        return buckets.withLock { buckets -> Duration? in
            var bucket = buckets[producer] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            bucket.tokens = min(burst, bucket.tokens + elapsed.inSeconds * ratePerSecond)
            bucket.updated = now
            defer { buckets[producer] = bucket }
            if bucket.tokens >= cost {
                bucket.tokens -= cost
                return nil
            }
            // A request larger than the burst can never pass; say so with the wait for a full bucket.
            let missing = min(cost, burst) - bucket.tokens
            return .milliseconds(Int64((missing / ratePerSecond * 1000).rounded(.up)))
        }
    }
}
