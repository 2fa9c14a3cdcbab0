import Events
import Features
import Foundation
import Kafka
import Logging
import Redis
import StackTestSupport
import Testing
import Training

/// `trainer redrive-dead-letters`' core against the local broker: dead letters as the processor writes them
/// (original record + `dlq-*` headers), listed by reason, and the fixed ones sent back to their topic.
@Suite("Dead-letter redrive against the local broker")
struct DeadLetterRedriveTests {
    /// A dead-letter topic and the two event topics of the test's own (one partition each), a quiet logger
    /// and a producer on the local broker.
    static func topics() async throws -> (
        brokers: [String], deadLetters: String, movie: String, poll: String, logger: Logger, producer: KafkaProducer
    ) {
        let brokers = try TestStack.kafkaBrokers()
        let deadLetters = TestStack.uniqueName("dlq"), movie = TestStack.uniqueName("movie"), poll = TestStack.uniqueName("poll")
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: brokers))
        _ = try await admin.createTopics([deadLetters, movie, poll].map { KafkaTopicSpecification(name: $0, partitions: 1) })
        await admin.shutdown()
        var logger = Logger(label: "redrive-tests")
        logger.logLevel = .warning
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: brokers), logger: logger)
        return (brokers, deadLetters, movie, poll, logger, producer)
    }

    @Test("letters are listed by reason; of one reason, those that now pass go back to their topic as they were, those that would fail again are reported")
    func redrive() async throws {
        let (brokers, deadLetters, movie, poll, logger, producer) = try await Self.topics()

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let like = Event(eventID: EventID.random(), type: .movieLike, userID: "u", subjectID: "m1", occurredAt: EventTimestamp(millisecondsSinceEpoch: now))
        let vote = Event(eventID: EventID.random(), type: .pollVote, userID: "u", subjectID: "p", occurredAt: like.occurredAt, payload: .vote(optionID: "a"))
        func letter(_ reason: String, value: [UInt8], version: String, source: String) -> KafkaProducerMessage {
            KafkaProducerMessage(topic: deadLetters, key: Array("u".utf8), value: value, headers: [
                KafkaHeader(name: EventHeaders.schemaVersion, value: version), KafkaHeader(name: "trace", value: "kept"),
                KafkaHeader(name: "dlq-reason", value: reason), KafkaHeader(name: "dlq-error", value: "…"),
                KafkaHeader(name: "dlq-source-topic", value: source), KafkaHeader(name: "dlq-source-partition", value: "0"),
                KafkaHeader(name: "dlq-source-offset", value: "7"),
            ])
        }
        let results = await producer.send([
            // A producer sent schema-version "2" by mistake; the record is fixed by... nothing: still "2", fails again.
            letter("unsupported_schema_version", value: like.canonicalJSON(), version: "2", source: movie),
            // The same reason, but the version the processor reads now (say it was upgraded): passes.
            letter("unsupported_schema_version", value: like.canonicalJSON(), version: Event.schemaVersion, source: movie),
            // Would land on the wrong topic again.
            letter("unsupported_schema_version", value: vote.canonicalJSON(), version: Event.schemaVersion, source: movie),
            // Another reason: not selected.
            letter("invalid_json", value: Array("{not json".utf8), version: Event.schemaVersion, source: movie),
        ])
        for result in results { _ = try result.get() }

        let consumer = { (group: String) in
            KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: TestStack.uniqueName(group), sessionTimeout: .seconds(2), heartbeatInterval: .milliseconds(500))
        }
        let letters = try await DeadLetterRedrive.read(topic: deadLetters, consumer: consumer("dlq"), idle: .seconds(3), logger: logger)
        #expect(letters.count == 4)
        #expect(DeadLetterRedrive.reasons(letters).map { "\($0.reason)=\($0.count)" } == ["invalid_json=1", "unsupported_schema_version=3"])
        #expect(letters.allSatisfy { !$0.headers.contains { $0.name.hasPrefix("dlq-") } })

        let redrive = DeadLetterRedrive(topics: EventTopics(movie: movie, poll: poll))
        let selection = DeadLetterRedrive.Selection(reason: "unsupported_schema_version")
        let dryRun = await redrive.redrive(letters, selection: selection, producer: producer, dryRun: true)
        #expect(dryRun.selected == 3 && dryRun.passed == 1 && dryRun.sent == 0)
        #expect(dryRun.skipped == ["unsupported_schema_version": 1, "wrong_topic": 1])
        // An offset range that leaves out the passing letter (offset 1) selects nothing that passes.
        let outside = await redrive.redrive(letters, selection: .init(reason: "unsupported_schema_version", partition: 0, offsets: 2...3), producer: nil, dryRun: true)
        #expect(outside.selected == 1 && outside.passed == 0)

        let report = await redrive.redrive(letters, selection: selection, producer: producer)
        #expect(report.sent == 1 && report.failed == 0, "\(report)")
        await producer.shutdown()

        // On the movie topic now: the original record, its own headers kept, the dead letter's dropped.
        let redriven = try await DeadLetterRedrive.read(topic: movie, consumer: consumer("movie"), idle: .seconds(3), logger: logger)
        #expect(redriven.count == 1)
        #expect(redriven.first?.value == like.canonicalJSON())
        #expect(redriven.first?.key == Array("u".utf8))
        #expect(redriven.first?.headers.map(\.name) == [EventHeaders.schemaVersion, "trace"])
    }

    @Test("a feature_rejected letter after the fix: skipped without Redis; with it, its set-aside event id is released and the copy sent back applies once")
    func featureRejectedAfterTheFix() async throws {
        let (brokers, deadLetters, movie, poll, logger, producer) = try await Self.topics()
        let redis = RedisClient(configuration: try TestStack.redisConfiguration())
        var features = FeatureConfiguration()
        features.keyPrefix = TestStack.uniqueName("redrive") + ":v2"
        let writer = FeatureWriter(configuration: features, redis: redis, logger: logger)

        // The processor met the vote (offset 0 of its topic) while the poll's tally key held a string: set aside.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let vote = Event(
            eventID: EventID.random(), type: .pollVote, userID: "u", subjectID: "p-broken", occurredAt: EventTimestamp(millisecondsSinceEpoch: now - 1000),
            payload: .vote(optionID: "a")
        )
        let headers = [KafkaHeader(name: EventHeaders.schemaVersion, value: Event.schemaVersion)]
        for result in await producer.send([KafkaProducerMessage(topic: poll, key: Array("u".utf8), value: vote.canonicalJSON(), headers: headers)]) {
            _ = try result.get()
        }
        _ = try await redis.send(RedisCommand("SET", writer.keys.pollTally("p-broken"), "not a hash"))
        let refused = try await writer.apply([FeatureEvent(event: vote, position: RecordPosition(topic: poll, partition: 0, offset: 0), groups: ["c"])], now: now)
        #expect(refused.rejected == 1)
        for result in await producer.send([KafkaProducerMessage(topic: deadLetters, key: Array("u".utf8), value: vote.canonicalJSON(), headers: headers + [
            KafkaHeader(name: "dlq-reason", value: "feature_rejected"), KafkaHeader(name: "dlq-error", value: "WRONGTYPE"),
            KafkaHeader(name: "dlq-source-topic", value: poll), KafkaHeader(name: "dlq-source-partition", value: "0"), KafkaHeader(name: "dlq-source-offset", value: "0"),
        ])]) {
            _ = try result.get()
        }
        // The fix: the wrong key removed.
        _ = try await redis.send(RedisCommand("DEL", writer.keys.pollTally("p-broken")))

        let consumer = { (group: String) in
            KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: TestStack.uniqueName(group), sessionTimeout: .seconds(2), heartbeatInterval: .milliseconds(500))
        }
        let letters = try await DeadLetterRedrive.read(topic: deadLetters, consumer: consumer("dlq"), idle: .seconds(3), logger: logger)
        let redrive = DeadLetterRedrive(topics: EventTopics(movie: movie, poll: poll))
        let selection = DeadLetterRedrive.Selection(reason: DeadLetterRedrive.featureRejected)
        // Without Redis the copy would be a duplicate of the set-aside id: skipped, reported.
        let withoutRedis = await redrive.redrive(letters, selection: selection, producer: producer)
        #expect(withoutRedis.sent == 0 && withoutRedis.skipped == ["set_aside_in_redis": 1], "\(withoutRedis)")
        let report = await redrive.redrive(letters, selection: selection, producer: producer, features: writer)
        #expect(report.sent == 1 && report.released == 1 && report.failed == 0, "\(report)")
        await producer.shutdown()

        // The processor meets the copy (offset 1): applied now, counted once; its replay changes nothing.
        let records = try await DeadLetterRedrive.read(topic: poll, consumer: consumer("poll"), idle: .seconds(3), logger: logger)
        #expect(records.map(\.offset) == [0, 1])
        let copy = try #require(records.last)
        guard case .success(let event) = redrive.recordCheck.check(value: copy.value, schemaVersion: Event.schemaVersion, topic: poll) else {
            Issue.record("the copy does not decode")
            return
        }
        let position = FeatureEvent(event: event, position: RecordPosition(topic: poll, partition: copy.partition, offset: copy.offset), groups: ["c"])
        #expect(try await writer.apply([position], now: now).applied == 1)
        #expect(try await writer.apply([position], now: now).applied == 0)
        let tally = try await FeatureReader(configuration: features, redis: redis).pollTally("p-broken")
        #expect(tally == PollTally(options: ["a": 1], totalVoters: 1))
        try await RedisSnapshot.delete(redis, prefix: features.keyPrefix + ":")
        await redis.shutdown()
    }
}
