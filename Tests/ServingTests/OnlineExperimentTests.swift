import Datasets
import EventRecords
import Events
import Experiments
import Foundation
import HTTPSupport
import Hummingbird
import HummingbirdTesting
@testable import Inference
import Kafka
import Logging
import ModelRegistry
import Outcomes
import Postgres
import ServiceLifecycle
import ServiceSupport
import Serving
import ServingTestSupport
import StackTestSupport
import StreamProcessing
import Synchronization
import SyntheticData
import Testing
import Training

/// The whole online-experiment loop on the real broker, Redis and PostgreSQL: the API serves an experiment
/// (control: the popular list; challenger: a registered candidate model) and emits its impressions;
/// simulated users answer with votes through Kafka, following a seeded click model; the processor's outcome
/// consumer attributes them; the real `trainer promote --online` binary decides.
///
/// Click models (seed 7, 300 users, one answer of 5 polls each per experiment):
/// - **no true difference:** each shown poll is voted on with probability 0.08, whatever it is;
/// - **prefers what fits the user:** 0.30 for a poll of the user's favourite category (the category they
///   voted most in the data), 0.02 otherwise. The candidate, trained on those votes, shows more of them.
@Suite("Online experiment: simulated users, outcomes, promotion on online evidence", .serialized)
struct OnlineExperimentTests {
    static let users = 300

    @Test("no true difference: not promoted; a click model that prefers the challenger's items: figures show it ahead and promote --online promotes it")
    func simulatedUsers() async throws {
        let fixture = try await PollsModelFixture()
        var logger = Logger(label: "online-experiment-tests")
        logger.logLevel = .warning
        // A second version, registered as a candidate: a gate no model passes keeps it one.
        var candidateConfiguration = fixture.run.configuration
        candidateConfiguration.promotionTolerance = -1
        _ = try await TrainingRun(configuration: candidateConfiguration, postgres: fixture.postgres, logger: logger) { _, _ in }
            .train(domain: "polls", force: false, codeRevision: "test")
        let registry = ModelRegistry(postgres: fixture.postgres)
        let candidate = try #require(try await registry.list(domain: "polls").first { $0.status == .candidate }?.version)
        _ = try await fixture.repository.reload(domain: .poll)

        // The popular list (the control) comes from the features: votes from other users make one.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (index, poll) in fixture.data.polls.enumerated() {
            for voter in 0..<(80 - index) / 8 + 1 {
                try await fixture.vote("crowd-\(voter)", poll.id, at: now - 60_000, offset: Int64(index * 100 + voter))
            }
        }

        let name = TestStack.uniqueName("online")
        let topics = EventTopics(movie: "\(name)-movie", poll: "\(name)-poll")
        let impressionTopic = "\(name)-served"
        let brokers = try TestStack.kafkaBrokers()
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: brokers))
        _ = try await admin.createTopics((topics.all + [impressionTopic]).map { KafkaTopicSpecification(name: $0, partitions: 2) })
        await admin.shutdown()

        // The processor, with its outcome consumer, over the fixture's schema and key prefix.
        var processorConfiguration = ProcessorConfiguration(
            consumer: KafkaConsumerConfiguration(
                bootstrapServers: brokers, groupID: "\(name)-group", clientID: "online-tests", sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1),
                maxBatchSize: 2000, batchLinger: .milliseconds(20)
            ),
            producer: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "online-tests-dlq"),
            redis: try TestStack.redisConfiguration(), postgres: fixture.run.configuration.postgres
        )
        processorConfiguration.topics = topics
        processorConfiguration.deadLetterTopic = "\(name)-dlq"
        processorConfiguration.topicPartitions = 2
        processorConfiguration.features.keyPrefix = fixture.schema + ":v1"
        processorConfiguration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        processorConfiguration.impressionTopic = impressionTopic
        processorConfiguration.outcomesEnabled = true
        let processor = try await ProcessorApplication.start(configuration: processorConfiguration, metrics: ServiceMetrics(), logger: logger)
        let processorGroup = ServiceGroup(configuration: .init(services: processor.services(includingHTTP: false), logger: logger))
        let processorTask = Task { try await processorGroup.run() }

        // The API's routes with experiments and the impression emitter.
        let store = ExperimentStore(postgres: fixture.postgres)
        let assignments = ExperimentAssignments(store: store, models: fixture.repository, interval: .seconds(60), logger: logger)
        let emitter = try ImpressionEmitter(
            configuration: ImpressionEmitter.Configuration(
                topic: impressionTopic, partitions: 2, producer: ImpressionEmitter.Configuration.producer(bootstrapServers: brokers, security: .plaintext)
            ),
            metricsFactory: ServiceMetrics().factory, logger: logger
        )
        let emitting = Task { try await emitter.run() }
        let catalog = CatalogMetadata()
        try await catalog.refresh(from: fixture.postgres)
        let service = InferenceService(
            engine: fixture.engine, features: fixture.engine.features, catalog: catalog, models: fixture.repository, adminToken: "",
            clock: { Int64(Date().timeIntervalSince1970 * 1000) }, impressions: emitter, experiments: assignments
        )
        let router = Router()
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        InferenceRoutes.add(to: router, service: service)

        // Each user's favourite category, from their votes in the data.
        let categoryOf = Dictionary(uniqueKeysWithValues: fixture.data.polls.map { ($0.id, $0.category) })
        var votesByCategory: [String: [String: Int]] = [:]
        for interaction in fixture.data.interactions where interaction.kind == .vote {
            votesByCategory[interaction.user, default: [:]][categoryOf[interaction.poll] ?? "", default: 0] += 1
        }
        let favourite = votesByCategory.mapValues { counts in counts.max { ($0.value, $1.key) < ($1.value, $0.key) }!.key }
        let users = Array(favourite.keys.sorted().prefix(Self.users))
        #expect(users.count == Self.users)
        var pollsOf: [String: Set<String>] = [:]
        for interaction in fixture.data.interactions { pollsOf[interaction.user, default: []].insert(interaction.poll) }
        let exhausted = users.filter { pollsOf[$0]?.count == fixture.data.polls.count }.count

        let eventProducer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "online-tests-users"))
        let reader = OutcomeReader(keyPrefix: processorConfiguration.features.keyPrefix, redis: fixture.redis)

        /// One experiment: every user asks once; once the impressions are counted, the users vote as the
        /// click model says (half with the recommendation id, half left to the window); then the counters.
        func experiment(_ id: String, vote probability: @escaping @Sendable (_ user: String, _ poll: String) -> Double) async throws -> OutcomeFigures {
            let experiment = try await store.start(id: id, domain: .poll, control: .popularOnly, challenger: .model(version: candidate), challengerShare: 0.5)
            await assignments.refreshOnce()
            var random = SplitMix(7)
            let collected = Mutex<[(user: String, recommendation: String, items: [String])]>([])
            try await Application(router: router).test(.router) { client in
                for user in users {
                    try await client.execute(uri: "/v1/users/\(user)/recommendations?domain=polls&k=5", method: .get) { response in
                        #expect(response.status == .ok)
                        guard case .object(let members)? = try? JSONParser.parse(Array(response.body.readableBytesView)) else { return }
                        let answer = Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value) })
                        #expect(answer["experiment_id"] == .string(id))
                        #expect(answer["variant"] == .string(experiment.variant(of: user).rawValue))
                        guard case .string(let recommendation)? = answer["recommendation_id"], case .array(let items)? = answer["items"] else { return }
                        let ids: [String] = items.compactMap {
                            guard case .object(let item) = $0, case .string(let id)? = item.first(where: { $0.key == "item_id" })?.value else { return nil }
                            return id
                        }
                        collected.withLock { $0.append((user, recommendation, ids)) }
                    }
                }
            }
            let answers = collected.withLock { $0 }
            let shown = answers.filter { !$0.items.isEmpty }.count
            // Only a user who has interacted with every poll of the small catalog may have nothing left to be
            // shown (the model's history leaves out impressions, so the model's arm may still show them some).
            #expect(shown >= users.count - exhausted, "\(shown) of \(users.count) answers show polls")
            // Clicks come after the answer's impression is counted (the API's emit lags by its linger).
            let deadline = ContinuousClock.now + .seconds(60)
            while try await reader.figures(experiment).variants.values.reduce(0, { $0 + $1[.impressions] }) < Int64(shown), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            var votes: [KafkaProducerMessage] = []
            for answer in answers {
                for (position, poll) in answer.items.enumerated() where Double(random.next() >> 11) / Double(1 << 53) < probability(answer.user, poll) {
                    let event = Event(
                        eventID: EventID.random(), type: .pollVote, userID: answer.user, subjectID: poll,
                        occurredAt: EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)), payload: .vote(optionID: "o0"),
                        recommendationID: votes.count % 2 == 0 ? answer.recommendation : nil, position: votes.count % 2 == 0 ? position + 1 : nil
                    )
                    votes.append(EventRecord.message(for: event, canonicalJSON: event.canonicalJSON(), topics: topics))
                }
            }
            for result in await eventProducer.send(votes) { _ = try result.get() }
            while try await reader.figures(experiment).variants.values.reduce(0, { $0 + $1[.pollVote] }) < Int64(votes.count), ContinuousClock.now < deadline + .seconds(30) {
                try await Task.sleep(for: .milliseconds(100))
            }
            let figures = try await reader.figures(experiment)
            #expect(figures.variants.values.reduce(0, { $0 + $1[.pollVote] }) == Int64(votes.count), "every vote attributed once")
            return figures
        }

        var environment = TestStack.environment
        environment["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        environment["STREAMREC_POSTGRES_SCHEMA"] = fixture.schema
        environment["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = processorConfiguration.migrationsDirectory
        environment["STREAMREC_TRAINER_ARTIFACTS_DIR"] = fixture.run.configuration.artifactsDirectory
        environment["STREAMREC_FEATURES_KEY_PREFIX"] = processorConfiguration.features.keyPrefix
        environment["STREAMREC_TOPICS_MODEL_UPDATED"] = "\(name)-model-updated"
        environment["STREAMREC_LOG_LEVEL"] = "warning"
        let promoteEnvironment = environment
        func promote(_ id: String) async throws -> (status: Int32, output: String) {
            try await offThePool { try TestStack.spawnAndWait([TestStack.executable("trainer"), "promote", "--online", id], environment: promoteEnvironment) }
        }

        // No true difference: the challenger is not promoted, and the decision is recorded.
        let even = try await experiment("exp-even") { _, _ in 0.08 }
        let evenDecision = try await promote("exp-even")
        #expect(evenDecision.status == 1, "\(evenDecision.output)")
        #expect(evenDecision.output.contains("not promoted"), "\(evenDecision.output)")
        #expect(!even.comparison().challengerWins)
        #expect(try await registry.entry(candidate)?.status == .candidate)
        _ = try await store.stop("exp-even")

        // Users vote on what fits them: the candidate shows more of it.
        let fits = try await experiment("exp-fits") { user, poll in categoryOf[poll] == favourite[user] ? 0.30 : 0.02 }
        let control = fits.counts(.control), challenger = fits.counts(.challenger)
        #expect((challenger.positiveRate ?? 0) > (control.positiveRate ?? 1), "control \(control.values), challenger \(challenger.values)")
        let decision = try await promote("exp-fits")
        #expect(decision.status == 0, "\(decision.output)")
        #expect(decision.output.contains("promoted \(candidate)"), "\(decision.output)")
        #expect(try await registry.entry(candidate)?.status == .production)
        #expect(try await store.experiment("exp-fits")?.stoppedAt != nil, "promoted: the experiment is over")
        let evidence = try await fixture.postgres.query("SELECT promotion_evidence::text FROM model_registry WHERE version = \(candidate)")
        #expect(try evidence.first?.decode(0, as: String?.self)?.contains("\"challenger_wins\": true") == true)

        await eventProducer.shutdown()
        emitter.stop()
        _ = try? await emitting.value
        await processorGroup.triggerGracefulShutdown()
        _ = try? await processorTask.value
        await processor.shutdown()
        try await RedisSnapshot.delete(fixture.redis, prefix: processorConfiguration.features.keyPrefix + ":")
        try await fixture.finish()
    }
}
