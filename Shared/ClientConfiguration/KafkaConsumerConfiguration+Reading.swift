import Kafka
import ServiceConfiguration

extension KafkaConsumerConfiguration {
    public init(reading reader: ConfigReader, clientID: String) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        self.init(
            bootstrapServers: try reader.list(K.kafkaBrokers),
            groupID: try reader.string(K.kafkaGroupID),
            clientID: clientID,
            security: try KafkaSecurity(reading: reader),
            sessionTimeout: try reader.duration(K.kafkaSessionTimeout),
            groupInstanceID: try reader.optionalString(K.kafkaGroupInstanceID).flatMap { $0.isEmpty ? nil : $0 },
            heartbeatInterval: try reader.duration(K.kafkaHeartbeatInterval),
            additionalProperties: try KafkaProducerConfiguration.diagnosticProperties(reader)
        )
    }
}
