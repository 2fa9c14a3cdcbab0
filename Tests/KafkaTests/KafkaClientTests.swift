import Foundation
import Kafka
import StackTestSupport
import Synchronization
import Testing

/// Settings that suit the local broker: a group join takes about half the session timeout there.
func testConsumerConfiguration(group: String) throws -> KafkaConsumerConfiguration {
    KafkaConsumerConfiguration(
        bootstrapServers: try TestStack.kafkaBrokers(),
        groupID: group,
        autoOffsetReset: .earliest,
        sessionTimeout: .seconds(6),
        heartbeatInterval: .seconds(1),
        maxBatchSize: 500
    )
}

func testProducerConfiguration() throws -> KafkaProducerConfiguration {
    KafkaProducerConfiguration(bootstrapServers: try TestStack.kafkaBrokers(), linger: .milliseconds(5), deliveryTimeout: .seconds(20))
}

func makeTopic(partitions: Int) async throws -> String {
    let topic = TestStack.uniqueName("test-topic")
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: try TestStack.kafkaBrokers()))
    #expect(try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: partitions)]) == [topic])
    await admin.shutdown()
    return topic
}

/// Consumes until `stop` says so or `timeout` passes, committing after each batch; returns what
/// arrived either way.
func consume(
    _ consumer: KafkaConsumer, timeout: Duration, stop: @escaping @Sendable ([KafkaConsumerMessage]) -> Bool
) async throws -> [KafkaConsumerMessage] {
    let received = LockedBox<[KafkaConsumerMessage]>([])
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for try await batch in consumer.batches {
                let soFar = received.mutex.withLock { $0 += batch; return $0 }
                try await consumer.commit(batch)
                if stop(soFar) { break }
            }
        }
        group.addTask { try await Task.sleep(for: timeout) }
        try await group.next()
        group.cancelAll()
    }
    return received.mutex.withLock { $0 }
}

final class LockedBox<Value: Sendable>: Sendable {
    let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
}

@Suite("Kafka client against the local Kafka-protocol broker")
struct KafkaClientTests {
    @Test("the run-time librdkafka can talk to the local broker (>= 2.2)")
    func librdkafkaVersion() {
        let version = KafkaLibrary.versionNumbers
        #expect(version.major > 2 || (version.major == 2 && version.minor >= 2), "librdkafka \(KafkaLibrary.version) is too old for Tansu: run scripts/setup.sh")
    }

    @Test("a consumer given statistics.interval.ms reports librdkafka's statistics to its callback (as the API's model-update consumer does)")
    func consumerStatistics() async throws {
        let topic = try await makeTopic(partitions: 1)
        var configuration = try testConsumerConfiguration(group: TestStack.uniqueName("group"))
        configuration.additionalProperties["statistics.interval.ms"] = "200"
        let reports = LockedBox<[KafkaStatistics]>([])
        let consumer = try KafkaConsumer(configuration: configuration, onStatistics: { statistics in reports.mutex.withLock { $0.append(statistics) } })
        try consumer.subscribe(topics: [topic])
        // Polling is what delivers the reports: consume (nothing arrives) until one came or 15 s passed.
        let deadline = ContinuousClock.now + .seconds(15)
        while reports.mutex.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
            _ = try await consume(consumer, timeout: .milliseconds(500)) { _ in false }
        }
        await consumer.close()
        let first = try #require(reports.mutex.withLock { $0.first }, "no statistics within 15 s")
        #expect(first.clientType == "consumer")
    }

    @Test("topics are created with their partition count; creating again is a no-op")
    func createAndDescribeTopic() async throws {
        let topic = TestStack.uniqueName("admin-topic")
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: try TestStack.kafkaBrokers()))
        #expect(try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 6)]) == [topic])
        #expect(try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 6)]) == [])
        let description = try await admin.describeTopic(topic)
        #expect(description.partitions.map(\.id) == Array(0..<6))
        #expect(try await admin.listTopics().contains(topic))
        await admin.shutdown()
    }

    @Test("10k keyed records to 6 partitions are consumed back exactly once, in order per key")
    func produceAndConsumeExactlyOnce() async throws {
        let topic = try await makeTopic(partitions: 6)
        let producer = try KafkaProducer(configuration: try testProducerConfiguration())
        let messages = (0..<10_000).map { index in
            KafkaProducerMessage(
                topic: topic, key: "user-\(index % 97)", value: "\(index)",
                headers: [KafkaHeader(name: "schema-version", value: "1"), KafkaHeader(name: "n", value: [UInt8(index % 256)])]
            )
        }
        let reports = await producer.send(messages)
        await producer.shutdown()
        let delivered = try reports.map { try $0.get() }
        #expect(delivered.count == 10_000)
        #expect(Set(delivered.map(\.partition)).count == 6, "keys spread over all partitions")

        let consumer = try KafkaConsumer(configuration: try testConsumerConfiguration(group: TestStack.uniqueName("group")))
        try consumer.subscribe(topics: [topic])
        let received = try await consume(consumer, timeout: .seconds(60)) { $0.count >= 10_000 }
        await consumer.close()

        let values = received.map { String(decoding: $0.value, as: UTF8.self) }
        #expect(values.count == 10_000)
        #expect(Set(values) == Set((0..<10_000).map(String.init)), "every record exactly once")
        // Per key: one partition, and values in production order.
        let byKey = Dictionary(grouping: received) { String(decoding: $0.key ?? [], as: UTF8.self) }
        for (_, records) in byKey {
            #expect(Set(records.map(\.partition)).count == 1)
            let order = records.map { Int(String(decoding: $0.value, as: UTF8.self))! }
            #expect(order == order.sorted())
        }
        let sample = try #require(received.first)
        #expect(sample.header("schema-version")?.stringValue == "1")
        #expect(sample.header("n")?.value == [UInt8(Int(String(decoding: sample.value, as: UTF8.self))! % 256)])
    }

    @Test("a restarted consumer resumes from its committed offsets: no gap, no duplicate")
    func resumeFromCommittedOffsets() async throws {
        let topic = try await makeTopic(partitions: 6)
        let group = TestStack.uniqueName("group")
        let producer = try KafkaProducer(configuration: try testProducerConfiguration())
        let reports = await producer.send((0..<10_000).map { KafkaProducerMessage(topic: topic, key: "k\($0 % 50)", value: "\($0)") })
        await producer.shutdown()
        #expect(reports.allSatisfy { (try? $0.get()) != nil })

        // First member: stops part-way, after committing what it applied.
        let first = try KafkaConsumer(configuration: try testConsumerConfiguration(group: group))
        try first.subscribe(topics: [topic])
        let firstPart = try await consume(first, timeout: .seconds(60)) { $0.count >= 3_000 }
        await first.close()
        #expect(firstPart.count >= 3_000 && firstPart.count < 10_000)

        // What the group committed is exactly what the first member applied.
        let partitions = (0..<6).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
        let probe = try KafkaConsumer(configuration: try testConsumerConfiguration(group: group))
        let committed = try await probe.committedOffsets(for: partitions)
        await probe.close()
        for partition in partitions {
            let applied = firstPart.filter { $0.partition == partition.partition }.map(\.offset).max().map { $0 + 1 }
            #expect(committed[partition] == applied, "committed offset of \(partition)")
        }

        // Second member, same group: picks up right after.
        let second = try KafkaConsumer(configuration: try testConsumerConfiguration(group: group))
        try second.subscribe(topics: [topic])
        let remaining = 10_000 - firstPart.count
        let secondPart = try await consume(second, timeout: .seconds(60)) { $0.count >= remaining }
        await second.close()

        let all = (firstPart + secondPart).map { String(decoding: $0.value, as: UTF8.self) }
        #expect(all.count == 10_000, "no duplicate")
        #expect(Set(all).count == 10_000, "no gap")
        for partition in partitions {
            if let resumedAt = secondPart.filter({ $0.partition == partition.partition }).map(\.offset).min() {
                #expect(resumedAt == committed[partition] ?? 0, "resumed at the committed offset of \(partition)")
            }
        }
    }

    @Test("fetched high watermarks are readable while the consumer waits for records (an idle processor's lag); after close, .closed")
    func highWatermarksWhileIdle() async throws {
        let topic = try await makeTopic(partitions: 2)
        let producer = try KafkaProducer(configuration: try testProducerConfiguration())
        let reports = await producer.send((0..<100).map { KafkaProducerMessage(topic: topic, key: "k\($0 % 7)", value: "\($0)") })
        await producer.shutdown()
        #expect(reports.allSatisfy { (try? $0.get()) != nil })
        let consumer = try KafkaConsumer(configuration: try testConsumerConfiguration(group: TestStack.uniqueName("group")))
        try consumer.subscribe(topics: [topic])
        let partitions = (0..<2).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
        // Read everything, then keep waiting for more: the poll thread now sits in rd_kafka_consumer_poll.
        let waiting = Task {
            var read = 0
            for try await batch in consumer.batches { read += batch.count }
            return read
        }
        var highs: [KafkaTopicPartition: Int64] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while highs.values.reduce(0, +) < 100, ContinuousClock.now < deadline {
            highs = try consumer.fetchedHighWatermarks(for: partitions)
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(highs.values.reduce(0, +) == 100 && highs.count == 2)
        try await Task.sleep(for: .milliseconds(500))  // idle now
        #expect(try consumer.fetchedHighWatermarks(for: partitions) == highs)
        await consumer.close()
        #expect(try await waiting.value == 100)
        #expect(throws: KafkaError.closed) { try consumer.fetchedHighWatermarks(for: partitions) }
    }

    @Test("two members share the partitions; a member leaving hands its partitions over")
    func rebalanceBetweenMembers() async throws {
        let topic = try await makeTopic(partitions: 6)
        let group = TestStack.uniqueName("group")
        let events = Mutex<[String: [KafkaRebalanceEvent]]>([:])
        func member(_ name: String) throws -> KafkaConsumer {
            let consumer = try KafkaConsumer(configuration: try testConsumerConfiguration(group: group)) { event in
                events.withLock { $0[name, default: []].append(event) }
            }
            try consumer.subscribe(topics: [topic])
            return consumer
        }
        let producer = try KafkaProducer(configuration: try testProducerConfiguration())
        _ = await producer.send((0..<600).map { KafkaProducerMessage(topic: topic, key: "k\($0)", value: "\($0)") })

        let a = try member("a")
        let b = try member("b")
        // Both poll concurrently until the group settled with both members owning partitions.
        let both = try await withThrowingTaskGroup(of: [KafkaConsumerMessage].self) { group in
            for consumer in [a, b] {
                group.addTask { try await consume(consumer, timeout: .seconds(12)) { _ in false } }
            }
            return try await group.reduce([], +)
        }
        let assignedA = Set(a.assignment)
        let assignedB = Set(b.assignment)
        #expect(assignedA.count + assignedB.count == 6)
        #expect(assignedA.isDisjoint(with: assignedB))
        #expect(!assignedA.isEmpty && !assignedB.isEmpty)
        #expect(Set(both.map { String(decoding: $0.value, as: UTF8.self) }).count == 600)

        await b.close()
        #expect(events.withLock { $0["b"]?.contains { if case .revoked = $0 { true } else { false } } } == true)
        // a takes over everything once b left; records produced now reach a.
        _ = await producer.send((600..<700).map { KafkaProducerMessage(topic: topic, key: "k\($0)", value: "\($0)") })
        await producer.shutdown()
        let later = try await consume(a, timeout: .seconds(30)) { $0.count >= 100 }
        #expect(Set(later.map { String(decoding: $0.value, as: UTF8.self) }) == Set((600..<700).map(String.init)))
        #expect(Set(a.assignment).count == 6)
        await a.close()
    }

    @Test("an unreachable broker fails each send with a retriable timeout, not a hang")
    func deliveryTimeoutToUnknownBroker() async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
            bootstrapServers: ["127.0.0.1:\(TestStack.freePort())"], deliveryTimeout: .milliseconds(1500)
        ))
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaProducerMessage(topic: "nowhere", key: "k", value: "v"))
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(1400))
        // Not a hang. The bound is wide: with the whole suite running on 2 cores this send has twice taken
        // 15.2–15.3 s (alone: ~1.5 s); where that time goes is not known yet.
        #expect(elapsed < .seconds(30), "not a hang")
        #expect(error?.isMessageTimeout == true)
        #expect(error?.isRetriable == true)
        #expect(error?.isFatal == false)
        #expect(error?.isOutcomeUnknown == false, "never sent: known not to be written")
        await producer.shutdown(flushTimeout: .zero)
    }

    @Test("a full local queue is reported as retriable backpressure, per record")
    func queueFullBackpressure() async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
            bootstrapServers: ["127.0.0.1:\(TestStack.freePort())"], queueMaxMessages: 10, deliveryTimeout: .milliseconds(500)
        ))
        let results = await producer.send((0..<50).map { KafkaProducerMessage(topic: "nowhere", key: "k", value: "\($0)") })
        let queueFull = results.filter { if case .failure(let error) = $0 { error.isQueueFull } else { false } }
        #expect(queueFull.count == 40)
        #expect(results.allSatisfy { if case .failure(let error) = $0 { error.isRetriable } else { false } })
        await producer.shutdown(flushTimeout: .zero)
    }

    @Test("shutdown purges what the broker never acknowledged: every waiter gets an answer")
    func shutdownResolvesPendingSends() async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
            bootstrapServers: ["127.0.0.1:\(TestStack.freePort())"], deliveryTimeout: .seconds(60)
        ))
        async let results = producer.send((0..<20).map { KafkaProducerMessage(topic: "nowhere", key: "k", value: "\($0)") })
        try await Task.sleep(for: .milliseconds(200))
        await producer.shutdown(flushTimeout: .milliseconds(100))
        let settled = await results
        #expect(settled.count == 20)
        #expect(settled.allSatisfy { if case .failure(let error) = $0 { error.name.hasPrefix("_PURGE") } else { false } })
        // No broker: nothing was ever on the wire, so every record is known not to be written.
        #expect(settled.allSatisfy { if case .failure(let error) = $0 { !error.isOutcomeUnknown } else { false } })
    }

    @Test("sends racing with shutdown each get an answer; acknowledged ones are really in the topic")
    func sendsRacingShutdown() async throws {
        let topic = try await makeTopic(partitions: 3)
        let producer = try KafkaProducer(configuration: try testProducerConfiguration())
        // Connected first (producer id acquired), so the race below is between sends and shutdown only.
        try await producer.send(KafkaProducerMessage(topic: topic, key: "warm-up", value: "0"))
        let results = try await withThrowingTaskGroup(of: [Result<KafkaDeliveryReport, KafkaError>].self) { group in
            for task in 0..<8 {
                group.addTask {
                    var results: [Result<KafkaDeliveryReport, KafkaError>] = []
                    for round in 0..<20 {
                        results += await producer.send((0..<50).map { KafkaProducerMessage(topic: topic, key: "t\(task)", value: "\(task)-\(round)-\($0)") })
                    }
                    return results
                }
            }
            try await Task.sleep(for: .milliseconds(30))
            await producer.shutdown(flushTimeout: .milliseconds(200))
            return try await group.reduce([], +)
        }
        #expect(results.count == 8 * 20 * 50)
        // How many land before the shutdown depends on timing; either way none may be lost or hang.
        let acknowledged = results.compactMap { try? $0.get() }
        #expect(!acknowledged.isEmpty)
        let refused = results.compactMap { if case .failure(let error) = $0 { error } else { nil } }
        #expect(refused.allSatisfy { $0 == .closed || $0.name.hasPrefix("_PURGE") }, "\(Set(refused.map(\.name)))")
        // What holds: acknowledged ⊆ topic ⊆ sent. A record purged while in flight (`_PURGE_INFLIGHT`) may
        // have reached the broker: its outcome is unknown, not a failure (the topic held 801 of 551
        // acknowledged on a busy machine), so the topic is read until it has every acknowledged record,
        // then a little longer for such records.
        let consumer = try KafkaConsumer(configuration: try testConsumerConfiguration(group: TestStack.uniqueName("group")))
        try consumer.subscribe(topics: [topic])
        let acknowledgedPositions = Set(acknowledged.map { "\($0.partition)/\($0.offset)" })
        var received = try await consume(consumer, timeout: .seconds(30)) { batch in
            acknowledgedPositions.isSubset(of: Set(batch.map { "\($0.partition)/\($0.offset)" }))
        }
        received += try await consume(consumer, timeout: .seconds(2)) { _ in false }
        await consumer.close()
        let positions = received.map { "\($0.partition)/\($0.offset)" }
        #expect(acknowledgedPositions.isSubset(of: Set(positions)), "every acknowledged record is in the topic")
        #expect(Set(positions).count == positions.count, "no record twice (idempotent producer)")
        let sent = Set((0..<8).flatMap { task in (0..<20).flatMap { round in (0..<50).map { "\(task)-\(round)-\($0)" } } } + ["0"])
        #expect(received.allSatisfy { sent.contains(String(decoding: $0.value, as: UTF8.self)) }, "nothing in the topic that was not sent")
    }
}
