import Events
import Features
import Foundation
import Kafka
import Logging
import Synchronization

/// Dead letters read back from the dead-letter topic, listed by reason, and sent back to the topic they came
/// from after a fix: `trainer redrive-dead-letters`. A letter is checked first with the processor's rules
/// (size, `schema-version` header, `Event.decode` — the gateway's validator — and the event's topic), so a
/// record that would fail again stays where it is and is reported, not sent round the loop.
public struct DeadLetterRedrive: Sendable {
    /// One dead letter: where it sits on the dead-letter topic, why it is there, and the original record.
    public struct Letter: Sendable, Hashable {
        public var partition: Int32
        public var offset: Int64
        public var reason: String
        public var sourceTopic: String?
        public var key: [UInt8]?
        public var value: [UInt8]
        /// The original headers, without the `dlq-*` ones the processor added.
        public var headers: [KafkaHeader]
        /// The processor cut the value (`dlq-truncated-from`) or dropped key and headers: not the original.
        public var isIncomplete: Bool

        public init(_ record: KafkaConsumerMessage) {
            partition = record.partition
            offset = record.offset
            reason = record.header(DeadLetterHeaders.reason)?.stringValue ?? "unknown"
            sourceTopic = record.header(DeadLetterHeaders.sourceTopic)?.stringValue
            key = record.key
            value = record.value
            headers = record.headers.filter { !$0.name.hasPrefix(DeadLetterHeaders.prefix) }
            isIncomplete = record.header(DeadLetterHeaders.truncatedFrom) != nil || record.header(DeadLetterHeaders.headersDropped) != nil
        }
    }

    /// Which letters to send back: one reason, optionally one partition's offset range of the dead-letter topic.
    public struct Selection: Sendable, Hashable {
        public var reason: String
        public var partition: Int32?
        public var offsets: ClosedRange<Int64>?

        public init(reason: String, partition: Int32? = nil, offsets: ClosedRange<Int64>? = nil) {
            self.reason = reason
            self.partition = partition
            self.offsets = offsets
        }

        public func contains(_ letter: Letter) -> Bool {
            letter.reason == reason && partition.map { $0 == letter.partition } != false && offsets.map { $0.contains(letter.offset) } != false
        }
    }

    /// What a redrive did: sent back, and kept with the reason each would fail again.
    public struct Report: Sendable, Hashable, CustomStringConvertible {
        public var selected = 0
        /// Selected letters that pass the checks (sent unless a dry run).
        public var passed = 0
        public var sent = 0
        /// Reason it would fail again → count.
        public var skipped: [String: Int] = [:]
        /// Letters that failed to send (the broker's error); they stay on the dead-letter topic.
        public var failed = 0
        /// `feature_rejected` letters whose set-aside event id was released in Redis before they were sent.
        public var released = 0

        public var description: String {
            let skippedText = skipped.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "selected \(selected), passed \(passed), sent \(sent), skipped \(skipped.values.reduce(0, +))\(skippedText.isEmpty ? "" : " (\(skippedText))"), failed \(failed)"
                + (released > 0 ? ", set-aside ids released \(released)" : "")
        }
    }

    /// The processor's rules (one definition in Events).
    public let recordCheck: EventRecordCheck

    public init(topics: EventTopics, maximumRecordBytes: Int = EventRecordCheck.defaultMaximumRecordBytes) {
        recordCheck = EventRecordCheck(topics: topics, maximumRecordBytes: maximumRecordBytes)
    }

    /// Why `letter` would be dead-lettered again (the processor's reason codes), or nil if it would now pass.
    public func failure(of letter: Letter) -> String? {
        if letter.isIncomplete { return "incomplete_copy" }
        guard let sourceTopic = letter.sourceTopic else { return "unknown_source_topic" }
        let version = letter.headers.first(where: { $0.name == EventHeaders.schemaVersion })?.stringValue
        switch recordCheck.check(value: letter.value, schemaVersion: version, topic: sourceTopic) {
        case .success: return nil
        case .failure(let rejection): return rejection.reason
        }
    }

    /// Reads the dead-letter topic from its start until nothing new came for `idle` (a consumer group of its
    /// own, nothing committed: the letters stay for the next look).
    public static func read(
        topic: String, consumer configuration: KafkaConsumerConfiguration, idle: Duration = .seconds(5), logger: Logger
    ) async throws -> [Letter] {
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        try consumer.subscribe(topics: [topic])
        let collected = Mutex<(letters: [Letter], last: ContinuousClock.Instant)>(([], .now))
        let reader = Task {
            for try await batch in consumer.batches {
                collected.withLock { state in
                    state.letters += batch.map(Letter.init)
                    state.last = .now
                }
            }
        }
        while ContinuousClock.now - collected.withLock({ $0.last }) < idle {
            try await Task.sleep(for: .milliseconds(100))
        }
        reader.cancel()
        await consumer.close()
        _ = await reader.result
        return collected.withLock { $0.letters }.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }

    /// Letters per reason.
    public static func reasons(_ letters: [Letter]) -> [(reason: String, count: Int)] {
        Dictionary(grouping: letters, by: \.reason).map { ($0.key, $0.value.count) }.sorted { $0.reason < $1.reason }
    }

    /// The reason the processor gives events whose Redis key was refused (``FeatureApplyOutcome``'s `rejected`).
    public static let featureRejected = "feature_rejected"

    /// Sends the selected letters that would now pass back to their topic (original key, value and headers),
    /// each acknowledged; `dryRun` only checks.
    ///
    /// A `feature_rejected` event's id stays set aside in Redis (so a replay never applies it), which would
    /// make the copy sent back a duplicate with no effect: with `features` (the processor's feature writer
    /// configuration) those ids are released first, once the refused key is fixed; without it such letters
    /// are skipped as `set_aside_in_redis`.
    public func redrive(
        _ letters: [Letter], selection: Selection, producer: KafkaProducer?, dryRun: Bool = false, features: FeatureWriter? = nil
    ) async -> Report {
        var report = Report()
        var outgoing: [KafkaProducerMessage] = []
        var setAside: [Event] = []
        for letter in letters where selection.contains(letter) {
            report.selected += 1
            if let failure = failure(of: letter) {
                report.skipped[failure, default: 0] += 1
                continue
            }
            guard let sourceTopic = letter.sourceTopic else { continue }
            if letter.reason == Self.featureRejected {
                let version = letter.headers.first(where: { $0.name == EventHeaders.schemaVersion })?.stringValue
                guard features != nil, case .success(let event) = recordCheck.check(value: letter.value, schemaVersion: version, topic: sourceTopic) else {
                    report.skipped["set_aside_in_redis", default: 0] += 1
                    continue
                }
                setAside.append(event)
            }
            outgoing.append(KafkaProducerMessage(topic: sourceTopic, key: letter.key, value: letter.value, headers: letter.headers))
        }
        report.passed = outgoing.count
        guard !dryRun, let producer, !outgoing.isEmpty else { return report }
        if let features, !setAside.isEmpty {
            do {
                report.released = try await features.releaseSetAside(setAside)
            } catch {
                // Sent while still set aside, they would be dropped as duplicates: nothing is sent.
                report.failed = outgoing.count
                return report
            }
        }
        for result in await producer.send(outgoing) {
            if case .success = result { report.sent += 1 } else { report.failed += 1 }
        }
        return report
    }
}
