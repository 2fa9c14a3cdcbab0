import Events
import Redis

/// Stores what a user states they like before they have events (cold start): genre (movies) or category
/// (polls) → weight, replacing what was stated before. The only feature the API writes; it expires with
/// the user's other state (`features.user_idle_expiry`).
public struct PreferenceWriter: Sendable {
    public let keys: FeatureKeys
    private let redis: RedisClient
    private let expiry: Duration

    public init(configuration: FeatureConfiguration, redis: RedisClient) {
        keys = FeatureKeys(prefix: configuration.keyPrefix)
        self.redis = redis
        expiry = configuration.userIdleExpiry
    }

    /// Replaces the user's preferences in `domain` with `weights` (all of them in one transaction: a
    /// reader never sees half of a change). Empty `weights` clears them.
    public func set(user: String, domain: EventDomain, weights: [(group: String, weight: Double)]) async throws(RedisError) {
        let key = keys.userPreferences(user, domain)
        var commands = [RedisCommand("DEL", key)]
        if !weights.isEmpty {
            var arguments: [any RedisArgumentConvertible] = [key]
            for (group, weight) in weights {
                arguments.append(group)
                arguments.append(String(weight))
            }
            commands.append(RedisCommand("HSET", arguments: arguments))
            commands.append(RedisCommand("EXPIRE", key, max(1, expiry.components.seconds)))
        }
        _ = try await redis.transaction(commands)
    }
}
