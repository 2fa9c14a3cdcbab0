import Datasets
import Events
import Features
import Foundation
import Logging
import Postgres
import Recommender
import Redis
import Serving
import StackTestSupport
import Training

/// A trained polls model in a schema of the test's own, and features under a key prefix of its own.
public struct PollsModelFixture: Sendable {
    public let schema = TestStack.uniqueName("serve")
    public let postgres: PostgresClient
    public let redis: RedisClient
    public let run: TrainingRun
    public let repository: ModelRepository
    public let writer: FeatureWriter
    public let engine: RecommendationEngine
    public let data: SyntheticPolls

    /// - Parameter kind: the top-N model the trainer must choose (nil: whichever validates better).
    public init(kind: TopNKind? = nil) async throws {
        let postgresConfiguration = try await TestStack.createSchema(schema)
        postgres = PostgresClient(configuration: postgresConfiguration)
        var configuration = try TrainerConfiguration.small(schema: schema, postgres: postgresConfiguration)
        if let kind { configuration.parameters.topNCandidates = [kind] }
        _ = try await PostgresMigrator(directory: configuration.migrationsDirectory).migrate(postgres)
        data = TrainingFixtureData.smallPolls()
        _ = try await Bootstrap(store: TrainingStore(postgres: postgres)).load(polls: data)
        var logger = Logger(label: "serving-tests")
        logger.logLevel = .warning
        run = TrainingRun(configuration: configuration, postgres: postgres, logger: logger) { _, _ in }
        _ = try await run.train(domain: "polls", force: false, codeRevision: "test")
        repository = ModelRepository(registry: run.registry, artifacts: run.artifacts, logger: logger)
        redis = RedisClient(configuration: try TestStack.redisConfiguration())
        var features = FeatureConfiguration()
        features.keyPrefix = schema + ":v1"
        writer = FeatureWriter(configuration: features, redis: redis)
        let categories = Dictionary(uniqueKeysWithValues: data.polls.map { ($0.id, [$0.category]) })
        var engine = RecommendationEngine(models: repository, features: FeatureReader(configuration: features, redis: redis)) { _, id in categories[id] }
        engine.popularMaxAge = .zero  // the tests check each write's effect at once
        self.engine = engine
    }

    public func vote(_ user: String, _ poll: String, at time: Int64, offset: Int64, categories: [String] = []) async throws {
        let event = Event(
            eventID: EventID.random(), type: .pollVote, userID: user, subjectID: poll,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: time), payload: .vote(optionID: "o0")
        )
        _ = try await writer.apply([FeatureEvent(event: event, position: RecordPosition(topic: "t", partition: 0, offset: offset), groups: categories)], now: time)
    }

    public func finish() async throws {
        try await RedisSnapshot.delete(redis, prefix: schema + ":v1:")
        await redis.shutdown()
        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
        try? FileManager.default.removeItem(atPath: run.configuration.artifactsDirectory)
    }
}
