import Kafka
import Metrics

/// librdkafka's statistics (`kafka.statistics_interval`) as swift-metrics gauges, labelled by client
/// (`producer` or `consumer`) and broker: `streamrec_kafka_broker_rtt_seconds` (average round trip),
/// `streamrec_kafka_broker_outbound_requests` and `streamrec_kafka_broker_awaiting_response` (queue depths
/// towards the broker), `streamrec_kafka_broker_transmit_errors` and `..._receive_errors` (cumulative
/// counts as librdkafka reports them), and `streamrec_kafka_queued_messages` per client.
public final class KafkaStatisticsMetrics: Sendable {
    private let factory: any MetricsFactory
    private let cache = MetricCache()

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// What `KafkaProducer(onStatistics:)` and `KafkaConsumer` take: records one report.
    public func record(_ statistics: KafkaStatistics) {
        let client = [("client", statistics.clientType)]
        cache.gauge("streamrec_kafka_queued_messages", client, factory: factory).record(statistics.queuedMessages)
        for broker in statistics.brokers {
            let labels = client + [("broker", broker.name)]
            let rtt = broker.roundTripAverage.components
            cache.gauge("streamrec_kafka_broker_rtt_seconds", labels, factory: factory).record(Double(rtt.seconds) + Double(rtt.attoseconds) / 1e18)
            cache.gauge("streamrec_kafka_broker_outbound_requests", labels, factory: factory).record(broker.outboundRequests)
            cache.gauge("streamrec_kafka_broker_awaiting_response", labels, factory: factory).record(broker.awaitingResponse)
            cache.gauge("streamrec_kafka_broker_transmit_errors", labels, factory: factory).record(broker.transmitErrors)
            cache.gauge("streamrec_kafka_broker_receive_errors", labels, factory: factory).record(broker.receiveErrors)
        }
    }
}
