import Datasets
import Events
import Features
import Foundation
import Logging
import ModelStore
import Postgres
import Recommender
import Redis
import Serving
import ServingTestSupport
import StackTestSupport
import Testing
import Training

@Suite("Serving: production models and recommendation strategies against Redis and PostgreSQL", .serialized)
struct RecommendationEngineTests {
    /// The polls fixture, shared with the inference API's tests (ServingTestSupport).
    typealias Fixture = PollsModelFixture

    @Test("personalised for a trained user, changed by a fresh vote; fold-in for a new user with events; popular for nobody; the user's training history never recommended", arguments: TopNKind.allCases)
    func strategies(kind: TopNKind) async throws {
        let fixture = try await Fixture(kind: kind)
        let version = try await fixture.repository.reload(domain: .poll)
        #expect(version != nil)
        let model = try #require(fixture.repository.model(for: .poll))
        #expect(model.bundle.topNKind == kind)
        #expect(model.manifest.hyperParameters["top_n.kind"] == kind.rawValue)
        // Every trained user: nothing from their training history (it is not in Redis: bootstrapped).
        let nowForHistory = Int64(Date().timeIntervalSince1970 * 1000)
        for user in model.bundle.userIDs.prefix(40) {
            let history = Set(model.bundle.histories.items(of: Int(model.userIndex[user]!)).map { model.bundle.itemIDs[Int($0)] })
            #expect(!history.isEmpty)
            let answer = try await fixture.engine.recommend(RecommendationRequest(user: user, domain: .poll, k: 20), now: nowForHistory)
            #expect(answer.strategy == .personalised && answer.items.allSatisfy { !history.contains($0.item) }, "\(user)")
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let engine = fixture.engine

        // Nobody, before any live event: the model's training popularity (the Redis window is empty).
        let anonymous = try await engine.recommend(RecommendationRequest(user: "anonymous", domain: .poll, k: 5), now: now)
        #expect(anonymous.strategy == .popular && anonymous.modelVersion == version && anonymous.items.count == 5)

        let before = try await engine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 10), now: now)
        #expect(before.strategy == .personalised)
        #expect(before.items.count == 10)
        #expect(before.modelVersion == version)
        // An exclude list drops exactly those items and nothing else: the rest keeps its order.
        let excluding = try await engine.recommend(
            RecommendationRequest(user: "u0", domain: .poll, k: 10, exclude: Set(before.items.prefix(2).map(\.item))), now: now
        )
        #expect(excluding.strategy == .personalised && excluding.items.count == 10)
        #expect(Array(excluding.items.prefix(8).map(\.item)) == Array(before.items.dropFirst(2).map(\.item)))
        // A vote posted now (after the training data) is seen (filtered) and moves the answer.
        let voted = before.items[0].item
        try await fixture.vote("u0", voted, at: now, offset: 0)
        let after = try await engine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 10), now: now)
        #expect(after.strategy == .personalised)
        #expect(!after.items.map(\.item).contains(voted))
        #expect(after.items.map(\.score) != before.items.dropFirst().map(\.score))

        let newcomer = "someone-new"
        try await fixture.vote(newcomer, "p3", at: now, offset: 1)
        let folded = try await engine.recommend(RecommendationRequest(user: newcomer, domain: .poll, k: 5), now: now)
        #expect(folded.strategy == .foldIn)
        #expect(folded.items.count == 5 && !folded.items.map(\.item).contains("p3"))

        // Nobody, now that the live window has the two votes above: popular from Redis.
        let live = try await engine.recommend(RecommendationRequest(user: "anonymous", domain: .poll, k: 5), now: now)
        #expect(live.strategy == .popular && live.modelVersion == nil)
        #expect(Set(live.items.map(\.item)) == [voted, "p3"])

        // The group filter keeps only that category.
        let category = fixture.data.polls[0].category
        let filtered = try await engine.recommend(RecommendationRequest(user: "u1", domain: .poll, k: 5, group: category), now: now)
        let categories = Dictionary(uniqueKeysWithValues: fixture.data.polls.map { ($0.id, $0.category) })
        #expect(!filtered.items.isEmpty && filtered.items.allSatisfy { categories[$0.item] == category })
        try await fixture.finish()
    }

    @Test("a corrupted new artifact is refused and the old model keeps serving", arguments: TopNKind.allCases)
    func corruptedArtifactKeepsTheOldModel(kind: TopNKind) async throws {
        let fixture = try await Fixture(kind: kind)
        let served = try await fixture.repository.reload(domain: .poll)
        // A second run, promoted, whose file is then damaged on disk.
        let second = try await fixture.run.train(domain: "polls", force: true, codeRevision: "test")
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: second.path)))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: second.path))
        await #expect(throws: ModelArtifactError.self) { try await fixture.repository.reload(domain: .poll) }
        #expect(fixture.repository.model(for: .poll)?.manifest.version == served)
        let result = try await fixture.engine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 3), now: Int64(Date().timeIntervalSince1970 * 1000))
        #expect(result.modelVersion == served && result.items.count == 3)
        try await fixture.finish()
    }

    // Both Redis I/O models: the API reads over event loops (configs/inference-api.conf), the default is threads.
    @Test("Redis down: personalised and popular answers from the model alone, marked degraded; no model and no Redis: an error", arguments: [RedisConfiguration.IOModel.threads, .eventLoops])
    func redisDownDegradesToTheModel(io: RedisConfiguration.IOModel) async throws {
        let fixture = try await Fixture()
        _ = try await fixture.repository.reload(domain: .poll)
        // A Redis client for a port where nothing listens.
        let unreachable = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: TestStack.freePort(), connectTimeout: .milliseconds(200), io: io))
        var features = FeatureConfiguration()
        features.keyPrefix = fixture.schema + ":v1"
        let engine = RecommendationEngine(models: fixture.repository, features: FeatureReader(configuration: features, redis: unreachable)) { _, _ in nil }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let known = try await engine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 5), now: now)
        #expect(known.strategy == .personalised && known.degraded && known.items.count == 5)
        let nobody = try await engine.recommend(RecommendationRequest(user: "nobody", domain: .poll, k: 5), now: now)
        #expect(nobody.strategy == .popular && nobody.degraded && nobody.items.count == 5)
        // The model's popularity order (made once at load) gives what a full selection over every item gives.
        let model = try #require(fixture.repository.model(for: .poll))
        #expect(nobody.items.map(\.item) == TopK.select(model.bundle.popularity, k: 5).map { model.bundle.itemIDs[$0.index] })
        await #expect(throws: RedisError.self) { try await engine.recommend(RecommendationRequest(user: "u0", domain: .movie, k: 5), now: now) }
        await unreachable.shutdown()
        try await fixture.finish()
    }

    @Test("popular and trending lists: reused while younger than popularMaxAge; a category's list filtered from the all-items list; while Redis is down the last one read is served, marked degraded (a category's too); a list never read is an error", arguments: [RedisConfiguration.IOModel.threads, .eventLoops])
    func lastPopularListWhileRedisIsDown(io: RedisConfiguration.IOModel) async throws {
        let fixture = try await Fixture()  // no model loaded: popular comes from Redis or its cache only
        // Started, stopped and removed off the cooperative pool: its two threads are every other test's too.
        let server = try await offThePool { try PrivateRedis() }
        var redisConfiguration = server.configuration
        redisConfiguration.connectTimeout = .milliseconds(200)
        redisConfiguration.io = io
        let redis = RedisClient(configuration: redisConfiguration)
        var features = FeatureConfiguration()
        features.keyPrefix = fixture.schema + ":v1"
        let writer = FeatureWriter(configuration: features, redis: redis)
        // Redis keeps popularity per item only: a category's list is the all-items list filtered by the catalog.
        var engine = RecommendationEngine(models: fixture.repository, features: FeatureReader(configuration: features, redis: redis)) { _, poll in
            poll == "p5" ? ["sport"] : ["news"]
        }
        engine.popularMaxAge = .zero
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (offset, (user, poll)) in [("a", "p2"), ("b", "p2"), ("c", "p5")].enumerated() {
            let event = Event(
                eventID: EventID.random(), type: .pollVote, userID: user, subjectID: poll, occurredAt: EventTimestamp(millisecondsSinceEpoch: now),
                payload: .vote(optionID: "o0")
            )
            _ = try await writer.apply([FeatureEvent(event: event, position: RecordPosition(topic: "t", partition: 0, offset: Int64(offset)), groups: [])], now: now)
        }
        let live = try await engine.popular(.poll, window: "24h", group: nil, now: now)
        #expect(live.items.map(\.item) == ["p2", "p5"] && !live.degraded)
        let sport = try await engine.popular(.poll, window: "24h", group: "sport", now: now)
        #expect(sport.items.map(\.item) == ["p5"] && !sport.degraded)
        #expect(try await engine.popular(.poll, window: "24h", group: "weather", now: now).items.isEmpty)
        let liveAnswer = try await engine.recommend(RecommendationRequest(user: "nobody", domain: .poll, k: 5), now: now)
        #expect(liveAnswer.strategy == .popular && !liveAnswer.degraded && liveAnswer.items.map(\.item) == ["p2", "p5"])
        // Within popularMaxAge the list read is reused: a new vote shows once it has expired.
        var reusing = engine
        reusing.popularMaxAge = .seconds(60)
        _ = try await reusing.popular(.poll, window: "24h", group: nil, now: now)
        let event = Event(
            eventID: EventID.random(), type: .pollVote, userID: "d", subjectID: "p7", occurredAt: EventTimestamp(millisecondsSinceEpoch: now), payload: .vote(optionID: "o0")
        )
        _ = try await writer.apply([FeatureEvent(event: event, position: RecordPosition(topic: "t", partition: 0, offset: 3), groups: [])], now: now)
        #expect(try await reusing.popular(.poll, window: "24h", group: nil, now: now).items.map(\.item) == ["p2", "p5"])
        #expect(try await engine.popular(.poll, window: "24h", group: nil, now: now).items.map(\.item) == ["p2", "p5", "p7"])
        let trending = try await engine.trending(.poll, group: nil, now: now)
        #expect(trending.items.map(\.item) == ["p2", "p5", "p7"] && !trending.degraded)

        try await offThePool { try server.stop() }
        let cachedTrending = try await engine.trending(.poll, group: nil, now: now)
        #expect(cachedTrending.items == trending.items && cachedTrending.degraded)
        // A category's list comes from the last all-items list read, degraded like it.
        let cachedNews = try await engine.trending(.poll, group: "news", now: now)
        #expect(cachedNews.items.map(\.item) == ["p2", "p7"] && cachedNews.degraded)
        // A cold-start request for a category too, though that category's list was never asked for.
        let cachedSport = try await engine.recommend(RecommendationRequest(user: "nobody", domain: .poll, k: 5, group: "sport"), now: now)
        #expect(cachedSport.strategy == .popular && cachedSport.degraded && cachedSport.items.map(\.item) == ["p5"])
        let cached = try await engine.popular(.poll, window: "24h", group: nil, now: now)
        #expect(cached.items.map(\.item) == ["p2", "p5", "p7"] && cached.degraded)
        let cachedAnswer = try await engine.recommend(RecommendationRequest(user: "nobody", domain: .poll, k: 5, exclude: ["p5"]), now: now)
        #expect(cachedAnswer.strategy == .popular && cachedAnswer.degraded && cachedAnswer.items.map(\.item) == ["p2", "p7"])
        await #expect(throws: RedisError.self) { try await engine.popular(.poll, window: "7d", group: nil, now: now) }

        await redis.shutdown()
        try await offThePool { try server.remove() }
        try await fixture.finish()
    }

    @Test("hot reload while requests run: every request answered, each by the old or the new model", arguments: TopNKind.allCases)
    func hotReloadUnderConcurrentRequests(kind: TopNKind) async throws {
        let fixture = try await Fixture(kind: kind)
        let old = try #require(try await fixture.repository.reload(domain: .poll))
        let second = try await fixture.run.train(domain: "polls", force: true, codeRevision: "test")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let engine = fixture.engine
        let repository = fixture.repository
        let versions = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await engine.recommend(RecommendationRequest(user: "u\(index % 50)", domain: .poll, k: 5), now: now).modelVersion
                }
            }
            group.addTask {
                try await repository.reload(domain: .poll)
                return nil
            }
            var seen: [String] = []
            for try await version in group { if let version { seen.append(version) } }
            return seen
        }
        #expect(versions.count == 200)
        #expect(Set(versions).isSubset(of: [old, second.manifest.version]))
        #expect(repository.model(for: .poll)?.manifest.version == second.manifest.version)
        try await fixture.finish()
    }
}
