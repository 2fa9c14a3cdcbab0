import Events
import Foundation
import HTTPSupport
import Hummingbird
import HummingbirdTesting
@testable import Inference
import Kafka
import Logging
import ServiceSupport
import Serving
import ServingTestSupport
import StackTestSupport
import Synchronization
import Testing

/// Impressions (`recommendation.served`) against the real broker: every answer's id reaches the topic, and
/// a broker outage neither delays nor fails answers; drops are counted and the emit heals by itself.
@Suite("Impressions: recommendation.served emit", .serialized)
struct ImpressionEmitterTests {
    static func emitter(brokers: [String], topic: String, queueCapacity: Int = 10_000) throws -> ImpressionEmitter {
        var logger = Logger(label: "impression-tests")
        logger.logLevel = .critical
        return try ImpressionEmitter(
            configuration: ImpressionEmitter.Configuration(
                topic: topic, queueCapacity: queueCapacity, partitions: 2,
                producer: ImpressionEmitter.Configuration.producer(bootstrapServers: brokers, security: .plaintext)
            ),
            metricsFactory: ServiceMetrics().factory, logger: logger
        )
    }

    /// The routes over the fixture's polls model, with the emitter running beside them.
    func withRoutes(
        _ emitter: ImpressionEmitter, _ body: @Sendable (PollsModelFixture, any TestClientProtocol) async throws -> Void
    ) async throws {
        let fixture = try await PollsModelFixture()
        _ = try await fixture.repository.reload(domain: .poll)
        let catalog = CatalogMetadata()
        try await catalog.refresh(from: fixture.postgres)
        let service = InferenceService(
            engine: fixture.engine, features: fixture.engine.features, catalog: catalog, models: fixture.repository, adminToken: "",
            clock: { Int64(Date().timeIntervalSince1970 * 1000) }, impressions: emitter
        )
        let router = Router()
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        InferenceRoutes.add(to: router, service: service)
        let running = Task { try await emitter.run() }
        try await Application(router: router).test(.router) { client in try await body(fixture, client) }
        emitter.stop()
        _ = try? await running.value
        try await fixture.finish()
    }

    /// Reads the topic from the start until `done` says enough, or the timeout.
    static func served(brokers: [String], topic: String, timeout: Duration = .seconds(30), until done: @escaping @Sendable ([RecommendationServed]) -> Bool) async throws -> [RecommendationServed] {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupID: TestStack.uniqueName("served"), sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1)
        ))
        try consumer.subscribe(topics: [topic])
        let received = ServedRecords()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await batch in consumer.batches {
                    let records = try batch.map { try RecommendationServed.decode($0.value) }
                    received.records.withLock { $0 += records }
                }
            }
            group.addTask {
                let deadline = ContinuousClock.now + timeout
                while !done(received.records.withLock { $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            }
            try await group.next()
            group.cancelAll()
        }
        await consumer.close()
        return received.records.withLock { $0 }
    }

    static func recommendationID(_ response: TestResponse) -> String? {
        guard case .object(let members)? = try? JSONParser.parse(Array(response.body.readableBytesView)),
              case .string(let id)? = members.first(where: { $0.key == "recommendation_id" })?.value else { return nil }
        return id
    }

    static func itemIDs(_ response: TestResponse) -> [String] {
        guard case .object(let members)? = try? JSONParser.parse(Array(response.body.readableBytesView)),
              case .array(let items)? = members.first(where: { $0.key == "items" })?.value else { return [] }
        return items.compactMap { item in
            guard case .object(let fields) = item, case .string(let id)? = fields.first(where: { $0.key == "poll_id" || $0.key == "item_id" })?.value else { return nil }
            return id
        }
    }

    @Test("every strategy's answer carries a recommendation_id, and its record on the topic has the same id, user, items in order, strategy, model version")
    func answersIDReachesTheTopic() async throws {
        let brokers = try TestStack.kafkaBrokers()
        let topic = TestStack.uniqueName("served")
        let emitter = try Self.emitter(brokers: brokers, topic: topic)
        let answers = Mutex<[(id: String, user: String, strategy: String, items: [String])]>([])
        try await withRoutes(emitter) { fixture, client in
            try await fixture.vote("newcomer", "p3", at: Int64(Date().timeIntervalSince1970 * 1000), offset: 0)
            for (user, strategy) in [("u0", "personalised"), ("nobody-at-all", "popular"), ("newcomer", "fold-in")] {
                try await client.execute(uri: "/v1/users/\(user)/recommendations?domain=polls&k=5", method: .get) { response in
                    #expect(response.status == .ok)
                    let id = try #require(Self.recommendationID(response))
                    #expect(id.count == 36)
                    answers.withLock { $0.append((id, user, strategy, Self.itemIDs(response))) }
                }
            }
            // Ids are unique per answer, even for the same user and list.
            try await client.execute(uri: "/v1/users/u0/recommendations?domain=polls&k=5", method: .get) { response in
                #expect(Self.recommendationID(response) != answers.withLock { $0[0].id })
            }
        }
        let expected = answers.withLock { $0 }
        #expect(expected.count == 3)
        let records = try await Self.served(brokers: brokers, topic: topic) { records in
            Set(records.map(\.recommendationID)).isSuperset(of: expected.map(\.id))
        }
        for answer in expected {
            let record = try #require(records.first { $0.recommendationID == answer.id }, "record of \(answer.user)")
            #expect(record.userID == answer.user)
            #expect(record.domain == .poll)
            #expect(record.strategy == answer.strategy)
            #expect(record.items.map(\.itemID) == answer.items)
            #expect(record.items.map(\.position) == Array(1...answer.items.count))
            #expect((record.modelVersion != nil) == (answer.strategy != "popular"))
        }
        #expect(emitter.statistics.dropped == 0)
    }

    @Test("broker down: answers are still served at once, drops are counted; broker back: records reach the topic again by themselves")
    func brokerOutage() async throws {
        let broker = try await offThePool { try PrivateBroker() }
        defer { try? broker.remove() }
        let topic = TestStack.uniqueName("served")
        let emitter = try Self.emitter(brokers: broker.bootstrapServers, topic: topic, queueCapacity: 20)
        let afterRecovery = Mutex<String?>(nil)
        let answerTimes = Mutex<[Duration]>([])
        try await withRoutes(emitter) { _, client in
            func answer(_ user: String) async throws -> String? {
                var id: String?
                let started = ContinuousClock.now
                try await client.execute(uri: "/v1/users/\(user)/recommendations?domain=polls&k=5", method: .get) { response in
                    #expect(response.status == .ok)
                    id = Self.recommendationID(response)
                }
                let took = ContinuousClock.now - started
                answerTimes.withLock { $0.append(took) }
                return id
            }
            _ = try await answer("u0")
            var waited = 0
            while emitter.statistics.emitted < 1, waited < 300 {
                try await Task.sleep(for: .milliseconds(100))
                waited += 1
            }
            #expect(emitter.statistics.emitted == 1, "the first record is acknowledged while the broker is up")

            try broker.stop()
            answerTimes.withLock { $0 = [] }
            for index in 0..<200 { _ = try await answer("u\(index % 40)") }
            // An answer that waited on the emit would take at least the producer's delivery timeout (5 s).
            // The median, not each answer: a loaded machine stalls a single request for seconds at times.
            let times = answerTimes.withLock { $0 }.sorted()
            #expect(times.count == 200 && times[100] < .seconds(1), "answers waited on the broker: median \(times[times.count / 2]), slowest \(times.last!)")
            // The queue holds 20; one batch waits on the dead broker: the rest is dropped, and counted.
            #expect(emitter.statistics.droppedQueueFull > 0, "\(emitter.statistics)")
            #expect(emitter.statistics.offered == 201)

            try broker.start()
            // Records offered from now on reach the topic (the emitter recreates the topic the restarted broker
            // lost). What was stuck at the restart (the queue's 20 and one batch of at most 20) may be
            // acknowledged or dropped; more than 40 acknowledgements after the restart include records offered after it.
            let emittedBefore = emitter.statistics.emitted
            var recovered = false
            for round in 0..<120 where !recovered {
                for index in 0..<5 {
                    let id = try await answer("after-recovery")
                    if round == 0 && index == 0 { afterRecovery.withLock { $0 = id } }
                }
                try await Task.sleep(for: .milliseconds(200))
                recovered = emitter.statistics.emitted > emittedBefore + 40
            }
            #expect(recovered, "impressions acknowledged again after the broker came back: \(emitter.statistics)")
        }
        _ = try #require(afterRecovery.withLock { $0 })
        let records = try await Self.served(brokers: broker.bootstrapServers, topic: topic) { records in records.contains { $0.userID == "after-recovery" } }
        #expect(
            records.contains { $0.userID == "after-recovery" },
            "read \(records.count) records, \(records.filter { $0.userID == "after-recovery" }.count) after recovery; \(emitter.statistics)"
        )
        #expect(emitter.statistics.dropped > 0)
    }
}

/// Records read back, shared by the reading and the waiting task.
final class ServedRecords: Sendable {
    let records = Mutex<[RecommendationServed]>([])
}
