import Events
import Features
import Kafka
import Logging
import ServiceSupport
import Synchronization
import EventStore
import Tracing

/// Where records that cannot be decoded go. Must have durably accepted them when `publish` returns.
public protocol DeadLetterSink: Sendable {
    func publish(_ letters: [DeadLetter]) async throws
}

public struct DeadLetter: Error, Sendable, Hashable {
    public var record: KafkaConsumerMessage
    /// Machine-readable reason (the validator's code, or `unsupported_schema_version`, `wrong_topic`).
    public var reason: String
    public var field: String?
    public var message: String

    /// The most of a record's value a dead letter keeps. A larger value (a third party can write records
    /// up to the topic's limit) would fail locally with `MSG_SIZE_TOO_LARGE` on every retry (librdkafka's
    /// `message.max.bytes` is 1 000 000 by default) and stop the partition: it is cut, and
    /// `dlq-truncated-from` says how large it was.
    public static let maximumValueBytes = 512 * 1024
    /// The most of the error text kept in `dlq-error`.
    public static let maximumMessageBytes = 4096

    /// The most of a record's key and original headers a dead letter keeps; past it they are left out
    /// (`dlq-headers-dropped`), so no record can make its dead letter too large to send.
    public static let maximumKeyAndHeaderBytes = 64 * 1024

    /// The original key, value and headers, plus the error and the record's origin in `dlq-*` headers.
    public func producerMessage(topic: String) -> KafkaProducerMessage {
        var headers = record.headers
        var key = record.key
        let originalBytes = (key?.count ?? 0) + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.count }
        if originalBytes > Self.maximumKeyAndHeaderBytes {
            headers = [KafkaHeader(name: DeadLetterHeaders.headersDropped, value: String(originalBytes))]
            if let original = key, original.count > Self.maximumKeyAndHeaderBytes { key = Array(original.prefix(Self.maximumKeyAndHeaderBytes)) }
        }
        headers.append(KafkaHeader(name: DeadLetterHeaders.reason, value: reason))
        if let field { headers.append(KafkaHeader(name: DeadLetterHeaders.field, value: field)) }
        headers.append(KafkaHeader(name: DeadLetterHeaders.error, value: String(decoding: message.utf8.prefix(Self.maximumMessageBytes), as: UTF8.self)))
        var value = record.value
        if value.count > Self.maximumValueBytes {
            headers.append(KafkaHeader(name: DeadLetterHeaders.truncatedFrom, value: String(value.count)))
            value = Array(value.prefix(Self.maximumValueBytes))
        }
        headers.append(KafkaHeader(name: DeadLetterHeaders.sourceTopic, value: record.topic))
        headers.append(KafkaHeader(name: DeadLetterHeaders.sourcePartition, value: String(record.partition)))
        headers.append(KafkaHeader(name: DeadLetterHeaders.sourceOffset, value: String(record.offset)))
        return KafkaProducerMessage(topic: topic, key: key, value: value, headers: headers)
    }
}

/// Dead letters through a Kafka producer, each acknowledged by the broker.
public struct KafkaDeadLetterSink: DeadLetterSink {
    public let producers: ProducerSlot
    public let topic: String
    /// Whether the broker answers (metadata), asked after a failed send: a producer whose sends keep
    /// failing while it does is stuck (the broker lost its producer id) and is replaced.
    private let brokerReachable: @Sendable () async -> Bool

    public init(producers: ProducerSlot, topic: String, brokerReachable: @escaping @Sendable () async -> Bool) {
        self.producers = producers
        self.topic = topic
        self.brokerReachable = brokerReachable
    }

    public func publish(_ letters: [DeadLetter]) async throws {
        guard !letters.isEmpty else { return }
        let results = await producers.send(letters.map { $0.producerMessage(topic: topic) })
        if results.contains(where: { if case .failure = $0 { true } else { false } }) {
            await producers.replaceIfStuck(brokerReachable: await brokerReachable())
        }
        for result in results {
            _ = try result.get()
        }
    }
}

/// What one batch did.
public struct BatchReport: Sendable {
    public var records: Int
    public var features: FeatureApplyOutcome
    /// The events behind `features.statuses`, in the same order.
    public var events: [FeatureEvent]
    public var deadLetters: [DeadLetter]
    /// Rows new to the training store (replays add none).
    public var storedInteractions: Int
    public var catalogUpdates: Int
    /// Wall time of each stage (decode, catalog, redis — with its steps redis_read, redis_compute,
    /// redis_popularity, redis_users — postgres, dead_letters); redis, postgres and dead_letters overlap.
    public var stageDurations: [(String, Duration)] = []
    /// Topics whose ids must be looked up again (``FeatureWriter/takeStaleTopicIDs()``).
    public var staleTopicIDs: Set<String> = []
}

/// A batch's records decoded (``EventBatchProcessor/decode(_:)``): the events in record order and the records
/// that become dead letters. Decoding is pure, so a retried batch is applied from the same decoded batch.
public struct DecodedBatch: Sendable {
    public var records: [KafkaConsumerMessage]
    var events: [(Event, RecordPosition)]
    var letters: [DeadLetter]
    /// The decode's wall time.
    var duration: Duration
}

/// Runs `body` and returns its result with its wall time.
func timed<Result: Sendable>(_ body: () async throws -> Result) async rethrows -> (Result, Duration) {
    let started = ContinuousClock.now
    let result = try await body()
    return (result, ContinuousClock.now - started)
}

/// Turns one batch of records into their effects: dead letters for records that cannot be decoded,
/// catalog upserts, Redis features and training-store rows. Every effect is idempotent, so the whole
/// batch can be retried after any failure, and the caller commits offsets only after this returned.
public final class EventBatchProcessor: Sendable {
    private let topics: EventTopics
    private let features: FeatureWriter
    private let store: TrainingStore
    private let deadLetters: any DeadLetterSink
    private let catalog = CatalogCache()
    private let recordCheck: EventRecordCheck
    private let logger: Logger
    /// While tracing is on, the tracer of the batch spans (``process(_:now:logEnds:topicIDs:)``); nil
    /// while it is off: no span, no header is looked at.
    private let tracer: (any Tracer)?

    /// A batch span links at most this many records' traces: OpenTelemetry's default limit of links per
    /// span (a collector would drop the rest), and a bound on the span's size for batches of thousands.
    public static let maximumSpanLinks = 128

    public init(
        topics: EventTopics, features: FeatureWriter, store: TrainingStore, deadLetters: any DeadLetterSink,
        maximumRecordBytes: Int = ProcessorConfiguration.defaultMaximumRecordBytes, logger: Logger, tracer: (any Tracer)? = nil
    ) {
        self.tracer = tracer
        self.topics = topics
        recordCheck = EventRecordCheck(topics: topics, maximumRecordBytes: maximumRecordBytes)
        self.features = features
        self.store = store
        self.deadLetters = deadLetters
        self.logger = logger
    }

    /// Decodes a batch's records: pure CPU (no dependency is touched), so it can run while the previous
    /// batch is still being applied. A large batch is decoded in halves on both cores.
    public func decode(_ records: [KafkaConsumerMessage]) async -> DecodedBatch {
        let started = ContinuousClock.now
        var letters: [DeadLetter] = []
        var decoded: [(Event, RecordPosition)] = []
        decoded.reserveCapacity(records.count)
        for part in await decodeInParts(records) {
            for result in part {
                switch result {
                case .success(let decodedEvent): decoded.append(decodedEvent)
                case .failure(let letter): letters.append(letter)
                }
            }
        }
        return DecodedBatch(records: records, events: decoded, letters: letters, duration: ContinuousClock.now - started)
    }

    /// Decodes, then applies the decoded batch (below).
    public func process(
        _ records: [KafkaConsumerMessage], now: Int64, logEnds: [String: Int64] = [:], topicIDs: [String: String] = [:]
    ) async throws -> BatchReport {
        try await process(await decode(records), now: now, logEnds: logEnds, topicIDs: topicIDs)
    }

    /// Applies a decoded batch: catalog, then Redis, the training store and dead letters.
    /// - Parameters:
    ///   - now: wall-clock milliseconds, for lateness.
    ///   - logEnds: the partitions' log end offsets, and
    ///   - topicIDs: the topics' ids (see ``FeatureWriter/apply(_:now:logEnds:topicIDs:)``).
    ///
    /// While tracing is on, the batch is one span, `apply batch` (kind consumer), linked to the trace of
    /// each record that carries a `traceparent` (the gateway's request; at most ``maximumSpanLinks``): one
    /// span per batch rather than one per record, since a batch is hundreds of records applied together.
    /// The batch's log lines carry the span's ids.
    public func process(
        _ batch: DecodedBatch, now: Int64, logEnds: [String: Int64] = [:], topicIDs: [String: String] = [:]
    ) async throws -> BatchReport {
        guard let tracer else { return try await apply(batch, now: now, logEnds: logEnds, topicIDs: topicIDs) }
        let records = batch.records
        let span = tracer.startSpan("apply batch", context: .topLevel, ofKind: .consumer)
        var linked = 0
        for record in records where linked < Self.maximumSpanLinks && record.header(EventHeaders.traceparent) != nil {
            var context = ServiceContext.topLevel
            tracer.extract(record.headers, into: &context, using: KafkaHeadersExtractor())
            span.addLink(SpanLink(context: context, attributes: [:]))
            linked += 1
        }
        span.attributes["messaging.system"] = "kafka"
        span.attributes["messaging.batch.message_count"] = records.count
        span.attributes["streamrec.batch.traced_records"] = linked
        do {
            let report = try await ServiceContext.$current.withValue(span.context) {
                try await apply(batch, now: now, logEnds: logEnds, topicIDs: topicIDs)
            }
            span.attributes["streamrec.batch.dead_letters"] = report.deadLetters.count
            span.end()
            return report
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            span.end()
            throw error
        }
    }

    private func apply(
        _ batch: DecodedBatch, now: Int64, logEnds: [String: Int64], topicIDs: [String: String]
    ) async throws -> BatchReport {
        let records = batch.records, decoded = batch.events, letters = batch.letters
        let decodeDuration = batch.duration
        // Catalog first and in record order, so interactions in the same batch see their genres.
        let catalogStarted = ContinuousClock.now
        let catalogEvents = decoded.compactMap { event, _ in event.type.isCatalog ? event : nil }
        if !catalogEvents.isEmpty { try await store.upsertCatalog(catalogEvents) }
        for event in catalogEvents { catalog.learn(event) }
        let catalogUpdates = catalogEvents.count
        var ids: [EventDomain: Set<String>] = [:]
        for (event, _) in decoded where !event.type.isCatalog { ids[event.domain, default: []].insert(event.subjectID) }
        var groups: [EventDomain: [String: [String]]] = [:]
        for domain in EventDomain.allCases {
            groups[domain] = try await catalog.groups(domain, ids: Array(ids[domain] ?? []), store: store)
        }
        let movieGroups = groups[.movie] ?? [:], pollGroups = groups[.poll] ?? [:]
        let events = decoded.map { event, position in
            let known = event.domain == .movie ? movieGroups : pollGroups
            return FeatureEvent(event: event, position: position, groups: event.type.isCatalog ? [] : known[event.subjectID] ?? [])
        }

        let catalogDuration = ContinuousClock.now - catalogStarted

        // The three sinks are independent and idempotent: run them together.
        let features = features
        let store = store
        let deadLetters = deadLetters
        let finalLetters = letters
        async let applied = timed { try await features.apply(events, now: now, logEnds: logEnds, topicIDs: topicIDs) }
        async let stored = timed { try await store.append(events) }
        async let lettersSent = timed { try await deadLetters.publish(finalLetters) }
        let ((outcome, redisDuration), (rows, postgresDuration), (_, lettersDuration)) = try await (applied, stored, lettersSent)
        // Events Redis refuses for good (a script error on their input) are set aside as dead letters,
        // so one bad event cannot stop its partition; the batch is committed only once they are sent.
        // They stay in the training store: they are valid events, only their features could not be kept.
        let refused = refusedLetters(outcome, events: events, records: records)
        if !refused.isEmpty { try await deadLetters.publish(refused) }
        return BatchReport(
            records: records.count, features: outcome, events: events, deadLetters: finalLetters + refused, storedInteractions: rows, catalogUpdates: catalogUpdates,
            stageDurations: [
                ("decode", decodeDuration), ("catalog", catalogDuration), ("redis", redisDuration), ("redis_read", outcome.readDuration),
                ("redis_compute", outcome.computeDuration), ("redis_popularity", outcome.popularityStepDuration), ("redis_users", outcome.userStepDuration),
                ("postgres", postgresDuration),
                ("dead_letters", lettersDuration),
            ],
            staleTopicIDs: features.takeStaleTopicIDs()
        )
    }

    private func decodeInParts(_ records: [KafkaConsumerMessage]) async -> [[Result<(Event, RecordPosition), DeadLetter>]] {
        func decodeSlice(_ slice: ArraySlice<KafkaConsumerMessage>) -> [Result<(Event, RecordPosition), DeadLetter>] {
            slice.map { record in
                decode(record).map { ($0, RecordPosition(topic: record.topic, partition: record.partition, offset: record.offset)) }
            }
        }
        guard records.count >= 2000 else { return [decodeSlice(records[...])] }
        let middle = records.count / 2
        async let first = decodeSlice(records[..<middle])
        let second = decodeSlice(records[middle...])
        return [await first, second]
    }

    /// Dead letters for the events the feature writer rejected, with Redis's reason.
    private func refusedLetters(_ outcome: FeatureApplyOutcome, events: [FeatureEvent], records: [KafkaConsumerMessage]) -> [DeadLetter] {
        guard outcome.rejected > 0 else { return [] }
        var letters: [DeadLetter] = []
        for (item, status) in zip(events, outcome.statuses) {
            guard case .rejected(let reason) = status,
                let record = records.first(where: { $0.offset == item.position.offset && $0.partition == item.position.partition && $0.topic == item.position.topic })
            else { continue }
            letters.append(DeadLetter(record: record, reason: "feature_rejected", field: nil, message: reason))
        }
        return letters
    }

    func decode(_ record: KafkaConsumerMessage) -> Result<Event, DeadLetter> {
        // Third parties can write to our topics directly: the rules are the ones the redrive applies too.
        recordCheck.check(value: record.value, schemaVersion: record.header(EventHeaders.schemaVersion)?.stringValue, topic: record.topic)
            .mapError { DeadLetter(record: record, reason: $0.reason, field: $0.field, message: $0.message) }
    }
}
