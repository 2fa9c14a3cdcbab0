import Foundation

/// The few figures an operator watches from librdkafka's statistics (`statistics.interval.ms`; the JSON
/// is described in librdkafka's STATISTICS.md): per broker the request round-trip time, the requests
/// waiting to be sent and awaiting a reply, and the transmit and receive errors so far; per client the
/// messages in its queues. Parsed on the librdkafka thread that delivers the JSON (it frees it after the
/// callback), so nothing holds on to librdkafka's buffer.
public struct KafkaStatistics: Sendable, Equatable {
    public struct Broker: Sendable, Equatable {
        /// `host:port/nodeid` as librdkafka names it.
        public var name: String
        /// Average round-trip time of requests in the last window (`rtt.avg`, µs in the JSON).
        public var roundTripAverage: Duration
        /// Requests waiting to be sent (`outbuf_cnt`).
        public var outboundRequests: Int
        /// Requests sent, awaiting a reply (`waitresp_cnt`).
        public var awaitingResponse: Int
        /// Transmit errors since the client started (`txerrs`, cumulative).
        public var transmitErrors: Int
        /// Receive errors since the client started (`rxerrs`, cumulative).
        public var receiveErrors: Int

        public init(name: String, roundTripAverage: Duration, outboundRequests: Int, awaitingResponse: Int, transmitErrors: Int, receiveErrors: Int) {
            self.name = name
            self.roundTripAverage = roundTripAverage
            self.outboundRequests = outboundRequests
            self.awaitingResponse = awaitingResponse
            self.transmitErrors = transmitErrors
            self.receiveErrors = receiveErrors
        }
    }

    /// `producer` or `consumer` (`type`).
    public var clientType: String
    /// The client's handle name (`name`, e.g. `ingest-gateway#producer-1`).
    public var clientName: String
    /// Messages in the producer's queues, or the consumer's pre-fetch queue (`msg_cnt`).
    public var queuedMessages: Int
    /// Real brokers only: librdkafka's bootstrap and coordinator placeholders (node id -1) are left out.
    public var brokers: [Broker]

    /// Nil if the JSON is not librdkafka's statistics object.
    public static func parse(_ json: UnsafeRawBufferPointer) -> KafkaStatistics? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
            let type = object["type"] as? String, let name = object["name"] as? String
        else { return nil }
        let brokers = (object["brokers"] as? [String: Any] ?? [:]).compactMap { key, value -> Broker? in
            guard let broker = value as? [String: Any], (broker["nodeid"] as? Int ?? -1) >= 0 else { return nil }
            let rtt = broker["rtt"] as? [String: Any]
            return Broker(
                name: broker["name"] as? String ?? key,
                roundTripAverage: .microseconds(rtt?["avg"] as? Int ?? 0),
                outboundRequests: broker["outbuf_cnt"] as? Int ?? 0,
                awaitingResponse: broker["waitresp_cnt"] as? Int ?? 0,
                transmitErrors: broker["txerrs"] as? Int ?? 0,
                receiveErrors: broker["rxerrs"] as? Int ?? 0
            )
        }
        return KafkaStatistics(clientType: type, clientName: name, queuedMessages: object["msg_cnt"] as? Int ?? 0, brokers: brokers.sorted { $0.name < $1.name })
    }
}
