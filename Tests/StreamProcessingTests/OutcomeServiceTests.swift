import Events
import Experiments
import Features
import Foundation
import Kafka
import ModelRegistry
import Outcomes
import Postgres
import Redis
import StackTestSupport
import StreamProcessing
import Testing

/// The processor's outcome consumer end to end: impressions and events through the real broker, counters
/// in the real Redis, Prometheus; and a second group replaying both topics changes no counter.
@Suite("Experiment outcomes through the processor", .serialized)
struct OutcomeServiceTests {
    @Test("impressions and the likes that follow are counted per variant and exported; replaying both topics leaves the counters unchanged")
    func countedOnceThroughKafka() async throws {
        var fixture = try await ProcessorFixture()
        fixture.configuration.outcomesEnabled = true
        fixture.configuration.impressionTopic = fixture.topics.movie + "-served"
        let redis = RedisClient(configuration: fixture.configuration.redis)
        // The application applies the migrations; the experiment is stored as `trainer experiment start` would.
        var outcomes = fixture
        outcomes.configuration.consumer.groupID += ".outcomes"
        let run = try await fixture.start(http: true)
        // No experiment yet: events are skipped undecoded, and nothing is written.
        let before = (0..<50).map { index in
            Event(eventID: UUID().uuidString.lowercased(), type: .movieLike, userID: "early-\(index)", subjectID: "m1", occurredAt: EventTimestamp(millisecondsSinceEpoch: wallNow()))
        }
        #expect(try await outcomes.waitForCommitted(try await fixture.produce(before), timeout: .seconds(60)))
        #expect(try await run.metrics().sum("streamrec_processor_outcome_skipped_total", matching: ["reason": "no_experiment"]) == 50)
        #expect(try await RedisSnapshot.take(redis, prefix: fixture.configuration.features.keyPrefix + ":{out:").isEmpty)

        let postgres = PostgresClient(configuration: fixture.configuration.postgres)
        let experiment = try await ExperimentStore(postgres: postgres).start(
            id: "exp-kafka", domain: .movie, control: .production, challenger: .popularOnly, challengerShare: 0.5
        )
        await postgres.shutdown()
        let now = wallNow()
        var impressions: [KafkaProducerMessage] = []
        var events: [Event] = []
        var expectedImpressions: [ExperimentVariant: Int] = [:]
        var expectedConverted: [ExperimentVariant: Int] = [:]
        for index in 0..<300 {
            let user = "user-\(index)"
            let variant = experiment.variant(of: user)
            let served = RecommendationServed(
                recommendationID: UUID().uuidString.lowercased(), userID: user, domain: .movie, strategy: "personalised", modelVersion: nil,
                experimentID: experiment.id, variant: variant.rawValue, items: (1...5).map { .init(itemID: "m\(index % 13 + $0)", position: $0) },
                servedAt: EventTimestamp(millisecondsSinceEpoch: now - 60_000)
            )
            impressions.append(KafkaProducerMessage(topic: fixture.configuration.impressionTopic, key: Array(user.utf8), value: served.canonicalJSON()))
            expectedImpressions[variant, default: 0] += 1
            // The challenger's users like more: every second one, against every fifth; half without the id.
            if index % (variant == .challenger ? 2 : 5) == 0 {
                let item = served.items[index % 3].itemID
                events.append(Event(
                    eventID: UUID().uuidString.lowercased(), type: .movieLike, userID: user, subjectID: item,
                    occurredAt: EventTimestamp(millisecondsSinceEpoch: now - 30_000), recommendationID: index % 4 == 0 ? served.recommendationID : nil
                ))
                expectedConverted[variant, default: 0] += 1
            }
        }
        // The application created the impression topic: produce now.
        var ends = try await fixture.produce(impressions)
        ends.merge(try await fixture.produce(events)) { max($0, $1) }
        let counted = try await outcomes.waitForCommitted(ends, timeout: .seconds(90))
        let metrics = try await run.metrics()
        await run.stop()
        #expect(counted)

        let reader = OutcomeReader(keyPrefix: fixture.configuration.features.keyPrefix, redis: redis)
        let figures = try await reader.figures(experiment)
        for variant in ExperimentVariant.allCases {
            #expect(figures.counts(variant)[.impressions] == Int64(expectedImpressions[variant] ?? 0))
            #expect(figures.counts(variant)[.converted] == Int64(expectedConverted[variant] ?? 0))
            #expect(figures.counts(variant)[.movieLike] == Int64(expectedConverted[variant] ?? 0))
            #expect(metrics.sum("streamrec_experiment_outcomes_total", matching: ["experiment": experiment.id, "variant": variant.rawValue, "metric": "impressions"])
                == Double(expectedImpressions[variant] ?? 0))
        }
        #expect(figures.comparison().challengerWins, "a like from every second user against every fifth, over 300 users")

        // Another group reads both topics from the start into the same keys: nothing changes.
        var replay = fixture
        replay.configuration.consumer.groupID += "-replay"
        var replayOutcomes = replay
        replayOutcomes.configuration.consumer.groupID += ".outcomes"
        let replayRun = try await replay.start(http: true)
        let replayed = try await replayOutcomes.waitForCommitted(ends, timeout: .seconds(90))
        let replayMetrics = try await replayRun.metrics()
        await replayRun.stop()
        #expect(replayed)
        #expect(try await reader.figures(experiment) == figures)
        #expect(replayMetrics.sum("streamrec_experiment_outcomes_total") ?? 0 == 0)
        #expect(replayMetrics.sum("streamrec_processor_outcome_replayed_total") ?? 0 > 0)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }
}
