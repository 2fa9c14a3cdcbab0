import Events
import Kafka

/// An event as the Kafka record the gateway publishes and the processor reads: key = `user_id` (each
/// user's events in one partition, in order), value = canonical JSON, headers `schema-version`,
/// `event-type`, `content-type` (and a trace's `traceparent`/`tracestate`). Defined once for the gateway
/// and for the trainer's backfill through the topics, which publishes stored events as the gateway would.
public enum EventRecord {
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
}
