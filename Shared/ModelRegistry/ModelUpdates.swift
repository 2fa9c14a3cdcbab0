import Events
import Kafka
import Logging
import ModelStore

/// The `model-updated` announcement: one JSON record per promotion (or rollback) on the configured
/// topic, key = domain, `{"domain","version","path","created_at"}`; returns once the broker acknowledged.
/// API instances consume it to hot-reload.
public struct ModelUpdateAnnouncer: Sendable {
    public let producer: KafkaProducerConfiguration
    public let topic: String
    let logger: Logger

    public init(producer: KafkaProducerConfiguration, topic: String, logger: Logger) {
        self.producer = producer
        self.topic = topic
        self.logger = logger
    }

    public static func message(for manifest: ModelManifest, path: String) -> JSONValue {
        .object([
            ("domain", .string(manifest.domain)), ("version", .string(manifest.version)), ("path", .string(path)),
            ("created_at", .string(manifest.createdAt.description)),
        ])
    }

    public func announce(_ manifest: ModelManifest, path: String) async throws {
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(for: producer), logger: logger)
        do {
            if !(try await admin.listTopics()).contains(topic) {
                _ = try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 1)])
            }
        } catch {
            await admin.shutdown()
            throw error
        }
        await admin.shutdown()
        let kafka = try KafkaProducer(configuration: producer, logger: logger)
        do {
            _ = try await kafka.send(KafkaProducerMessage(
                topic: topic, key: Array(manifest.domain.utf8), value: JSONWriter.encode(Self.message(for: manifest, path: path))
            ))
        } catch {
            await kafka.shutdown()
            throw error
        }
        await kafka.shutdown()
        logger.info("announced model-updated", metadata: ["topic": "\(topic)", "version": "\(manifest.version)"])
    }
}
