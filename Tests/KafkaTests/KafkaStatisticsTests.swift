import Foundation
import Kafka
import Testing

/// librdkafka's statistics JSON, parsed into the few figures the gauges show.
@Suite("librdkafka statistics: the parser on a captured report")
struct KafkaStatisticsTests {
    /// Captured 2026-12-06 from the ingest gateway's producer (librdkafka 2.16.0, the local broker,
    /// `kafka.statistics_interval = 1s`, logged at trace level), unedited.
    static let capturedProducerReport = #"{ "name": "ingest-gateway#producer-1", "client_id": "ingest-gateway", "type": "producer", "ts":45504475059, "time":1796595103, "age":1002420, "replyq":0, "msg_cnt":0, "msg_size":0, "msg_max":100000, "msg_size_max":1073741824, "simple_cnt":0, "metadata_cache_cnt":12, "brokers":{ "127.0.0.1:29102/111": { "name":"127.0.0.1:29102/111", "nodeid":111, "nodename":"127.0.0.1:29102", "source":"learned", "state":"UP", "stateage":947555, "outbuf_cnt":0, "outbuf_msg_cnt":0, "waitresp_cnt":0, "waitresp_msg_cnt":0, "tx":4, "txbytes":172, "txerrs":0, "txretries":0, "txidle":946813, "req_timeouts":0, "rx":4, "rxbytes":1406, "rxerrs":0, "rxcorriderrs":0, "rxpartial":0, "rxidle":946361, "zbuf_grow":0, "buf_grow":0, "wakeups":12, "connects":1, "disconnects":0, "int_latency": { "min":0, "max":0, "avg":0, "sum":0, "stddev": 0, "p50": 0, "p75": 0, "p90": 0, "p95": 0, "p99": 0, "p99_99": 0, "outofrange": 0, "hdrsize": 11376, "cnt":0 }, "outbuf_latency": { "min":14, "max":72, "avg":36, "sum":147, "stddev": 21, "p50": 26, "p75": 35, "p90": 72, "p95": 72, "p99": 72, "p99_99": 72, "outofrange": 0, "hdrsize": 11376, "cnt":4 }, "rtt": { "min":453, "max":616, "avg":532, "sum":2129, "stddev": 64, "p50": 491, "p75": 571, "p90": 619, "p95": 619, "p99": 619, "p99_99": 619, "outofrange": 0, "hdrsize": 13424, "cnt":4 }, "throttle": { "min":0, "max":0, "avg":0, "sum":0, "stddev": 0, "p50": 0, "p75": 0, "p90": 0, "p95": 0, "p99": 0, "p99_99": 0, "outofrange": 0, "hdrsize": 17520, "cnt":0 }, "req": { "Produce": 0, "ListOffsets": 0, "Metadata": 1, "FindCoordinator": 0, "SaslHandshake": 0, "ApiVersion": 1, "InitProducerId": 1, "AddPartitionsToTxn": 0, "AddOffsetsToTxn": 0, "EndTxn": 0, "TxnOffsetCommit": 0, "SaslAuthenticate": 0, "DescribeCluster": 0, "DescribeProducers": 0, "Unknown-62?": 0, "DescribeTransactions": 0, "ListTransactions": 0, "Unknown-70?": 0, "GetTelemetrySubscriptions": 1, "PushTelemetry": 0, "Unknown-73?": 0, "Unknown-74?": 0, "Unknown-75?": 0, "ShareGroupHeartbeat": 0, "Unknown-77?": 0, "ShareFetch": 0, "ShareAcknowledge": 0 }, "toppars":{ } } }, "topics":{ } , "eos": { "idemp_state": "Assigned", "idemp_stateage": 946, "txn_state": "Init", "txn_stateage": 45504475, "txn_may_enq": false, "producer_id": 8, "producer_epoch": 0, "epoch_cnt": 1 }, "tx":4, "tx_bytes":172, "rx":4, "rx_bytes":1406, "txmsgs":0, "txmsg_bytes":0, "rxmsgs":0, "rxmsg_bytes":0}"#

    static func parse(_ text: String) -> KafkaStatistics? {
        Array(text.utf8).withUnsafeBytes { KafkaStatistics.parse($0) }
    }

    @Test("the captured producer report: client, queue, and the broker's round trip, queues and errors")
    func capturedReport() throws {
        let statistics = try #require(Self.parse(Self.capturedProducerReport))
        #expect(statistics.clientType == "producer")
        #expect(statistics.clientName == "ingest-gateway#producer-1")
        #expect(statistics.queuedMessages == 0)
        try #require(statistics.brokers.count == 1)
        let broker = statistics.brokers[0]
        #expect(broker.name == "127.0.0.1:29102/111")
        #expect(broker.roundTripAverage == .microseconds(532))
        #expect(broker.outboundRequests == 0 && broker.awaitingResponse == 0)
        #expect(broker.transmitErrors == 0 && broker.receiveErrors == 0)
    }

    @Test("placeholder brokers (node id -1: bootstrap, coordinator) are left out; figures are read per broker; not statistics: nil")
    func placeholdersAndFigures() throws {
        let text = #"{"name":"c#consumer-1","type":"consumer","msg_cnt":17,"brokers":{"GroupCoordinator":{"name":"GroupCoordinator","nodeid":-1,"rtt":{"avg":9}},"b:9092/1":{"name":"b:9092/1","nodeid":1,"rtt":{"avg":2500},"outbuf_cnt":3,"waitresp_cnt":2,"txerrs":5,"rxerrs":1}}}"#
        let statistics = try #require(Self.parse(text))
        #expect(statistics.clientType == "consumer" && statistics.queuedMessages == 17)
        #expect(statistics.brokers == [
            KafkaStatistics.Broker(name: "b:9092/1", roundTripAverage: .microseconds(2500), outboundRequests: 3, awaitingResponse: 2, transmitErrors: 5, receiveErrors: 1)
        ])
        #expect(Self.parse("[1,2]") == nil)
        #expect(Self.parse("not json") == nil)
    }
}
