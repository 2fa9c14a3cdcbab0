import Foundation
import Kafka
import ServiceSupport

// The ingest gateway validates interaction events and publishes them to Kafka. At this stage it
// checks its configuration and its broker, then exits.
let check = ServiceCheck(service: "ingest-gateway", summary: "The ingest gateway: HTTP → validated events → Kafka.", keys: ClientConfigKeys.kafkaProducer)
exit(await check.run { reader, logger in
    let producerConfiguration = try KafkaProducerConfiguration(reading: reader, clientID: "ingest-gateway")
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: producerConfiguration.bootstrapServers), logger: logger)
    let report = try await DependencyProbes.kafka(admin)
    await admin.shutdown()
    return [report]
})
