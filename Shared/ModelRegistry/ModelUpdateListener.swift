import Events
import Kafka
import Logging
import ServiceLifecycle

/// Hot reload: every `model-updated` record (``ModelUpdateAnnouncer``'s) makes this instance load the
/// domain's production model through `reload` (the API's `ModelRepository`: verified, then swapped; a bad
/// artifact is refused and the old model keeps serving). The reload is a closure so that the registry's
/// module, below the serving code, does not depend on the repository that serves.
public struct ModelUpdateListener: Service {
    let consumer: KafkaConsumer
    let topic: String
    let logger: Logger
    /// Loads the domain's production model (throws when it refuses the artifact).
    let reload: @Sendable (_ domain: String) async throws -> Void

    public init(consumer: KafkaConsumer, topic: String, logger: Logger, reload: @escaping @Sendable (_ domain: String) async throws -> Void) {
        self.consumer = consumer
        self.topic = topic
        self.logger = logger
        self.reload = reload
    }

    public func run() async throws {
        try consumer.subscribe(topics: [topic])
        for try await records in consumer.batches.cancelOnGracefulShutdown() {
            var domains: Set<String> = []
            for record in records {
                if case .object(let members)? = try? JSONParser.parse(record.value),
                    case .string(let domain)? = members.first(where: { $0.key == "domain" })?.value
                {
                    domains.insert(domain)
                }
            }
            for domain in domains.sorted() {
                do {
                    try await reload(domain)
                } catch {
                    logger.error("announced model refused; the previous one keeps serving", metadata: ["domain": "\(domain)", "error": "\(error)"])
                }
            }
            try? await consumer.commit(records)
        }
    }
}
