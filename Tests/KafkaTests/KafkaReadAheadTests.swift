import Foundation
import Kafka
import StackTestSupport
import Synchronization
import Testing

/// What a consumer that reads its next batch while one is still applied relies on (the stream processor's loop).
@Suite("Kafka consumer: reading ahead of the batch being applied")
struct KafkaReadAheadTests {
    @Test("a read given up before any record arrived returns an empty batch at once; a read with records returns them")
    func readGivenUp() async throws {
        let topic = try await makeTopic(partitions: 2)
        let consumer = try KafkaConsumer(configuration: try testConsumerConfiguration(group: TestStack.uniqueName("group")))
        try consumer.subscribe(topics: [topic])
        let stop = KafkaPollStop()
        let reading = Task { try await consumer.nextBatch(unless: stop) }
        try await Task.sleep(for: .milliseconds(300))
        let stopped = ContinuousClock.now
        stop.stop()
        #expect(try await reading.value == [])
        // Within 10 ms when the machine is idle; the bound leaves room for a loaded one (unstopped, the read
        // would wait for a record that never comes).
        #expect(ContinuousClock.now - stopped < .seconds(5))

        let producer = try KafkaProducer(configuration: try testProducerConfiguration())
        _ = await producer.send((0..<20).map { KafkaProducerMessage(topic: topic, key: "k\($0)", value: "\($0)") })
        await producer.shutdown()
        var read: [KafkaConsumerMessage] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while read.count < 20, ContinuousClock.now < deadline {
            read += try await consumer.nextBatch(unless: KafkaPollStop()) ?? []
        }
        #expect(Set(read.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<20).map(String.init)))
        await consumer.close()
    }

    @Test("a rebalance during a read ahead waits for the batch being applied: its offsets are committed before the partitions change hands")
    func rebalanceWaitsForTheBatchBeingApplied() async throws {
        let topic = try await makeTopic(partitions: 2)
        let group = TestStack.uniqueName("group")
        let producer = try KafkaProducer(configuration: try testProducerConfiguration())
        // All 200 must be in the topic: the read below waits for them without a bound of its own.
        let sent = await producer.send((0..<200).map { KafkaProducerMessage(topic: topic, key: "k\($0)", value: "\($0)") })
        try #require(sent.allSatisfy { if case .success = $0 { true } else { false } })

        let applying = LockedBox(false)
        let barrierReached = LockedBox(false)
        let a = try KafkaConsumer(configuration: try testConsumerConfiguration(group: group))
        a.setRebalanceBarrier {
            barrierReached.mutex.withLock { $0 = true }
            while applying.mutex.withLock({ $0 }) { usleep(1000) }
        }
        try a.subscribe(topics: [topic])
        // The batch being "applied": all 200 records, gathered over as many reads as the broker needs. Were any
        // left unread, the read ahead below would return them at once and stop polling, so no poll would be
        // left to run the revoke and reach the barrier (a's session would expire instead).
        var batch: [KafkaConsumerMessage] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while batch.count < 200, ContinuousClock.now < deadline { batch += try await a.nextBatch(unless: nil) ?? [] }
        #expect(batch.count == 200)
        applying.mutex.withLock { $0 = true }
        barrierReached.mutex.withLock { $0 = false }
        let stop = KafkaPollStop()
        let readAhead = Task { try await a.nextBatch(unless: stop) }

        // A second member joins: a's read ahead runs the revoke, which must wait for the batch.
        let b = try KafkaConsumer(configuration: try testConsumerConfiguration(group: group))
        try b.subscribe(topics: [topic])
        // Generous bounds: a rebalance on the local broker has taken over 10 s while the rest of the suite ran.
        let bRead = Task { try await consume(b, timeout: .seconds(40)) { _ in false } }
        let joinDeadline = ContinuousClock.now + .seconds(40)
        while !barrierReached.mutex.withLock({ $0 }), ContinuousClock.now < joinDeadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(barrierReached.mutex.withLock { $0 }, "the rebalance reached the barrier")
        try await Task.sleep(for: .milliseconds(300))
        // Still waiting: the batch is done only now.
        a.storeOffsets(batch)
        applying.mutex.withLock { $0 = false }
        stop.stop()
        _ = try await readAhead.value
        // Records after a's batch, so that b has something to read on whichever partition it owns: what it
        // reads must be these, none of a's applied batch.
        _ = await producer.send((200..<300).map { KafkaProducerMessage(topic: topic, key: "k\($0)", value: "\($0)") })
        await producer.shutdown()

        // What a applied is committed, so b (whatever it owns now) starts after it.
        let partitions = (0..<2).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
        let applied = Dictionary(batch.map { ($0.topicPartition, $0.offset + 1) }, uniquingKeysWith: max)
        let probe = try KafkaConsumer(configuration: try testConsumerConfiguration(group: group))
        let committed = try await probe.committedOffsets(for: partitions)
        await probe.close()
        for (partition, offset) in applied { #expect((committed[partition] ?? 0) >= offset, "committed offset of \(partition)") }
        let readByB = try await bRead.value
        let appliedValues = Set(batch.map { String(decoding: $0.value, as: UTF8.self) })
        #expect(!readByB.isEmpty, "b read the records produced after a's batch")
        #expect(readByB.allSatisfy { !appliedValues.contains(String(decoding: $0.value, as: UTF8.self)) }, "b re-read none of a's applied batch")
        await a.close()
        await b.close()
    }
}
