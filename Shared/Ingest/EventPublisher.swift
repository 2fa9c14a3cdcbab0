import Events
import Kafka

/// Writes validated events to their domain's topic, as `EventRecord` makes them (with the request's
/// `traceparent`/`tracestate`, when it has a trace).
public struct EventPublisher: Sendable {
    public let producers: ProducerSlot
    public let topics: EventTopics

    public init(producers: ProducerSlot, topics: EventTopics) {
        self.producers = producers
        self.topics = topics
    }

    /// Publishes records made with `EventRecord.message(for:canonicalJSON:topics:trace:)` and waits for each one's
    /// acknowledgement (or failure), in input order.
    public func publish(_ messages: [KafkaProducerMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await producers.send(messages)
    }
}
