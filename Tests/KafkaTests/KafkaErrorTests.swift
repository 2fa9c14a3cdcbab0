import Foundation
@testable import Kafka
import StackTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("KafkaError: whether a failed record may have been written")
struct KafkaErrorTests {
    // librdkafka's codes, checked by name below (the test target does not see the C headers).
    static let purgeInFlight: Int32 = -151
    static let purgeQueue: Int32 = -152
    static let messageTimedOut: Int32 = -192
    static let queueFull: Int32 = -184
    static let messageTooLarge: Int32 = 10

    @Test("purged in flight: outcome unknown; purged from the queue: not written; timed out: unknown only if the record was sent")
    func outcomeOfDeliveryFailures() {
        let purgedInFlight = KafkaError(deliveryFailure: Self.purgeInFlight, possiblyPersisted: false)
        #expect(purgedInFlight.name == "_PURGE_INFLIGHT")
        #expect(purgedInFlight.isOutcomeUnknown && purgedInFlight.isRetriable && !purgedInFlight.isFatal)

        let purgedQueued = KafkaError(deliveryFailure: Self.purgeQueue, possiblyPersisted: false)
        #expect(purgedQueued.name == "_PURGE_QUEUE")
        #expect(!purgedQueued.isOutcomeUnknown && purgedQueued.isRetriable)

        let timedOutUnsent = KafkaError(deliveryFailure: Self.messageTimedOut, possiblyPersisted: false)
        #expect(timedOutUnsent.name == "_MSG_TIMED_OUT" && timedOutUnsent.isMessageTimeout)
        #expect(!timedOutUnsent.isOutcomeUnknown && timedOutUnsent.isRetriable)

        let timedOutSent = KafkaError(deliveryFailure: Self.messageTimedOut, possiblyPersisted: true)
        #expect(timedOutSent.isMessageTimeout && timedOutSent.isOutcomeUnknown && timedOutSent.isRetriable)

        let queueFull = KafkaError(deliveryFailure: Self.queueFull, possiblyPersisted: false)
        #expect(queueFull.name == "_QUEUE_FULL" && queueFull.isQueueFull && !queueFull.isOutcomeUnknown)

        let tooLarge = KafkaError(deliveryFailure: Self.messageTooLarge, possiblyPersisted: false)
        #expect(tooLarge.name == "MSG_SIZE_TOO_LARGE" && !tooLarge.isOutcomeUnknown && !tooLarge.isRetriable)

        // Refused before it reached librdkafka, and errors that are about no record.
        #expect(!KafkaError.closed.isOutcomeUnknown)
        #expect(!KafkaError.configuration("x").isOutcomeUnknown)
        #expect(purgedInFlight != purgedQueued)
    }
}

@Suite("Kafka producer: records sent to a broker that stops answering", .serialized)
struct UnansweredRecordTests {
    @Test("broker frozen (SIGSTOP) with the connection up: a sent record that times out, and one purged in flight at shutdown, are isOutcomeUnknown")
    func sentButUnanswered() async throws {
        let broker = try PrivateBroker()
        defer { try? broker.remove() }
        let pidText = try String(contentsOfFile: broker.runDirectory + "/pids/kafka.pid", encoding: .utf8)
        let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let topic = TestStack.uniqueName("unanswered")
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: broker.bootstrapServers))
        #expect(try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 1)]) == [topic])
        await admin.shutdown()
        // Both connected, with the topic's partition and a producer id: the next record goes straight onto the wire.
        let timingOut = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers, linger: .milliseconds(1), deliveryTimeout: .seconds(2)))
        let purged = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers, linger: .milliseconds(1), deliveryTimeout: .seconds(60)))
        try await timingOut.send(KafkaProducerMessage(topic: topic, key: "k", value: "warm-up"))
        try await purged.send(KafkaProducerMessage(topic: topic, key: "k", value: "warm-up"))

        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        async let inFlight = purged.send([KafkaProducerMessage(topic: topic, key: "k", value: "purged")])
        let timedOut = await timingOut.send([KafkaProducerMessage(topic: topic, key: "k", value: "timed out")])
        guard case .failure(let timeout) = timedOut[0] else {
            Issue.record("acknowledged by a frozen broker?")
            return
        }
        #expect(timeout.isOutcomeUnknown, "\(timeout)")
        #expect(timeout.isRetriable, "\(timeout)")
        // The other record has been on the wire for two seconds: the shutdown purges it in flight.
        await purged.shutdown(flushTimeout: .milliseconds(100))
        let purgedResults = await inFlight
        guard case .failure(let purge) = purgedResults[0] else {
            Issue.record("acknowledged by a frozen broker?")
            return
        }
        #expect(purge.name == "_PURGE_INFLIGHT", "\(purge)")
        #expect(purge.isOutcomeUnknown)
        kill(pid, SIGCONT)
        await timingOut.shutdown(flushTimeout: .zero)
    }
}
