import Kafka
import Tracing

/// A Kafka record's headers as the carrier of a trace context (`traceparent`, `tracestate`): the gateway
/// injects its request's context into the event's record, the processor extracts each record's context to
/// link its batch span to it.
public struct KafkaHeadersInjector: Injector {
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout [KafkaHeader]) {
        carrier.append(KafkaHeader(name: key, value: value))
    }
}

/// See ``KafkaHeadersInjector``.
public struct KafkaHeadersExtractor: Extractor {
    public init() {}

    public func extract(key: String, from carrier: [KafkaHeader]) -> String? {
        carrier.first { $0.name == key }?.stringValue
    }
}
