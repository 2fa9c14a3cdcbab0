import Kafka
import ServiceConfiguration

extension KafkaProducerConfiguration {
    public init(reading reader: ConfigReader, clientID: String) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        let compressionName = try reader.string(K.kafkaCompression)
        guard let compression = KafkaCompression(rawValue: compressionName) else {
            throw ConfigurationError(key: K.kafkaCompression.name, message: "expected one of \(KafkaCompression.allCases.map(\.rawValue)), got \"\(compressionName)\"")
        }
        self.init(
            bootstrapServers: try reader.list(K.kafkaBrokers),
            clientID: clientID,
            security: try KafkaSecurity(reading: reader),
            compression: compression,
            linger: try reader.duration(K.kafkaLinger),
            queueMaxMessages: try reader.int(K.kafkaQueueMaxMessages, range: 1...10_000_000),
            deliveryTimeout: try reader.duration(K.kafkaDeliveryTimeout),
            additionalProperties: try Self.diagnosticProperties(reader)
        )
    }
}

extension KafkaProducerConfiguration {
    /// librdkafka properties from `kafka.debug` and `kafka.statistics_interval`, for any client.
    public static func diagnosticProperties(_ reader: ConfigReader) throws(ConfigurationError) -> [String: String] {
        let contexts = try reader.string(ClientConfigKeys.kafkaDebug)
        var properties = contexts.isEmpty ? [:] : ["debug": contexts]
        let statistics = try reader.duration(ClientConfigKeys.kafkaStatisticsInterval)
        if statistics > .zero { properties["statistics.interval.ms"] = String(max(1, statistics.components.seconds * 1000 + statistics.components.attoseconds / 1_000_000_000_000_000)) }
        return properties
    }
}
