import Events
import Kafka

/// Writes validated events to their domain's topic: key = `user_id` (per-user ordering), value =
/// canonical JSON, headers `schema-version`, `event-type`, `content-type` (and the request's
/// `traceparent`/`tracestate`, when it has a trace).
public struct EventPublisher: Sendable {
    public let producers: ProducerSlot
    public let topics: EventTopics

    public init(producers: ProducerSlot, topics: EventTopics) {
        self.producers = producers
        self.topics = topics
    }

    /// `trace`: the request's `traceparent`/`tracestate` headers, appended to the type's three (a new
    /// array only when there are any).
    public static func message(for event: Event, canonicalJSON: [UInt8], topics: EventTopics, trace: [KafkaHeader] = []) -> KafkaProducerMessage {
        KafkaProducerMessage(
            topic: topics.topic(for: event.domain),
            key: Array(event.userID.utf8),
            value: canonicalJSON,
            headers: trace.isEmpty ? headersByType[event.type]! : headersByType[event.type]! + trace
        )
    }

    /// The three headers of each event type, built once (their storage is shared by every record).
    static let headersByType: [EventType: [KafkaHeader]] = Dictionary(uniqueKeysWithValues: EventType.allCases.map { type in
        (type, [
            KafkaHeader(name: EventHeaders.schemaVersion, value: Event.schemaVersion),
            KafkaHeader(name: EventHeaders.eventType, value: type.rawValue),
            KafkaHeader(name: EventHeaders.contentType, value: EventHeaders.jsonContentType),
        ])
    })

    /// Publishes records made with ``message(for:canonicalJSON:topics:)`` and waits for each one's
    /// acknowledgement (or failure), in input order.
    public func publish(_ messages: [KafkaProducerMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await producers.send(messages)
    }
}
