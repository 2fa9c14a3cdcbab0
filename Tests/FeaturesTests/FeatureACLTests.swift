import Events
@testable import Features
import Redis
import StackTestSupport
import Testing

/// The Redis ACL users the local stack defines (scripts/stack.sh): the processor's writes and the API's
/// reads work under their users; what each must not do is refused with NOPERM.
@Suite("Redis least privilege per service")
struct FeatureACLTests {
    /// The local stack gives its per-service users its one password.
    static func configuration(user: String) throws -> RedisConfiguration {
        var configuration = try TestStack.redisConfiguration()
        configuration.username = user
        configuration.password = try #require(TestStack.environment["STREAMREC_POSTGRES_PASSWORD"])
        return configuration
    }

    static func refused(_ redis: RedisClient, _ command: RedisCommand) async -> Bool {
        do {
            _ = try await redis.send(command)
            return false
        } catch {
            return error.serverErrorCode == "NOPERM"
        }
    }

    @Test("the processor's user applies events (scripts included) and may not flush, configure or touch other keys; the API's user reads and writes nothing but stated preferences")
    func serviceUsers() async throws {
        // Feature keys must start with "sr:" (the default `features.key_prefix` is sr:v2) to be in reach.
        let prefix = "sr:" + TestStack.uniqueName("acl")
        var features = FeatureConfiguration()
        features.keyPrefix = prefix + ":v2"
        let processor = RedisClient(configuration: try Self.configuration(user: "streamrec_processor"))
        let api = RedisClient(configuration: try Self.configuration(user: "streamrec_api"))
        let now = wallNow()
        let writer = FeatureWriter(configuration: features, redis: processor)
        let outcome = try await writer.apply([
            at(makeEvent(.movieLike, user: "u1", subject: "m1", at: now - 1000), offset: 0),
            at(makeEvent(.movieRating, user: "u1", subject: "m2", at: now - 900, payload: .rating(4.5)), offset: 1),
        ], now: now)
        #expect(outcome.applied == 2)
        // A like, then a dislike of the same genre: the affinity field goes (HDEL with HSET, in MULTI/EXEC).
        let removing = try await writer.apply([
            at(makeEvent(.movieLike, user: "u2", subject: "m3", at: now - 800), offset: 2, groups: ["Drama"]),
            at(makeEvent(.movieDislike, user: "u2", subject: "m4", at: now - 700), offset: 3, groups: ["Drama"]),
            at(makeEvent(.movieLike, user: "u3", subject: "m3", at: now - 800), offset: 4, groups: ["Drama"]),
        ], now: now)
        #expect(removing.applied == 3)
        _ = try await writer.apply([at(makeEvent(.movieDislike, user: "u3", subject: "m4", at: now - 600), offset: 5, groups: ["Drama"])], now: now)
        #expect(await Self.refused(processor, RedisCommand("FLUSHALL")))
        #expect(await Self.refused(processor, RedisCommand("CONFIG", "GET", "requirepass")))
        #expect(await Self.refused(processor, RedisCommand("KEYS", "*")))
        #expect(await Self.refused(processor, RedisCommand("SET", "not-a-feature-key", "1")))
        #expect(await Self.refused(processor, RedisCommand("SCRIPT", "FLUSH")))

        let reader = FeatureReader(configuration: features, redis: api)
        #expect(try await reader.affinity(user: "u2", domain: .movie) == [:])
        #expect(try await reader.affinity(user: "u3", domain: .movie) == [:], "removed in a later batch: HDEL in MULTI/EXEC under the processor's user")
        #expect(try await reader.popularityScores(.movie, window: "7d", now: now)["m1"] == 1)
        #expect(try await reader.seen(user: "u1", domain: .movie) == ["m1", "m2"])
        // Reads as of one instant are transactions: allowed, but a write queued in one is still refused.
        #expect(Set(try await reader.trending(.movie, limit: 5, now: now).map(\.item)) == ["m1", "m2", "m3"])
        #expect(try await reader.pollTally("p1") == PollTally(options: [:], totalVoters: 0))
        let queuedWrite = await #expect(throws: RedisError.self) { try await api.transaction([RedisCommand("SET", prefix + ":v2:x", "1")]) }
        #expect(queuedWrite?.serverErrorCode == "EXECABORT" || queuedWrite?.serverErrorCode == "NOPERM", "\(String(describing: queuedWrite))")
        #expect(try await api.send(RedisCommand("EXISTS", prefix + ":v2:x")) == .integer(0))
        #expect(await Self.refused(api, RedisCommand("SET", prefix + ":v2:x", "1")))
        #expect(await Self.refused(api, RedisCommand("DEL", prefix + ":v2:x")))
        #expect(await Self.refused(api, RedisCommand("EVAL", "return 1", 0)))
        #expect(await Self.refused(api, RedisCommand("FLUSHALL")))
        // Its one write: a user's stated preferences, and no other key of that user.
        try await reader.preferenceWriter.set(user: "u1", domain: .movie, weights: [("Comedy", 1), ("Drama", 0.5)])
        #expect(try await reader.preferences(user: "u1", domain: .movie) == ["Comedy": 1, "Drama": 0.5])
        try await reader.preferenceWriter.set(user: "u1", domain: .movie, weights: [])
        #expect(try await reader.preferences(user: "u1", domain: .movie) == [:])
        #expect(await Self.refused(api, RedisCommand("HSET", features.keyPrefix + ":{u:u1}:state:movie", "r", "1|1")))
        #expect(await Self.refused(api, RedisCommand("DEL", features.keyPrefix + ":{u:u1}:state:movie")))
        #expect(await Self.refused(api, RedisCommand("HSET", features.keyPrefix + ":prefs:x", "a", "1")))
        await processor.shutdown()
        await api.shutdown()

        let owner = RedisClient(configuration: try TestStack.redisConfiguration())
        try await RedisSnapshot.delete(owner, prefix: prefix + ":")
        await owner.shutdown()
    }
}
