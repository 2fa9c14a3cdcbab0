import Foundation
import Kafka
import Postgres
import ServiceSupport

// The trainer fits models from the Postgres training store and registers them. At this stage it
// checks its configuration, PostgreSQL (applying migrations) and the broker, then exits.
let check = ServiceCheck(service: "trainer", summary: "The trainer: PostgreSQL training store → models, artifacts, registry.", keys: ClientConfigKeys.postgres + ClientConfigKeys.kafkaProducer)
exit(await check.run { reader, logger in
    let postgres = PostgresClient(configuration: try PostgresConfiguration(reading: reader, applicationName: "trainer"), logger: logger)
    let producerConfiguration = try KafkaProducerConfiguration(reading: reader, clientID: "trainer")
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: producerConfiguration.bootstrapServers), logger: logger)
    return try await withCleanup {
        let applied = try await PostgresMigrator(directory: try reader.string(ClientConfigKeys.postgresMigrationsDirectory)).migrate(postgres)
        return [
            try await DependencyProbes.postgres(postgres) + ", migrations applied now: \(applied)",
            try await DependencyProbes.kafka(admin),
        ]
    } cleanup: {
        await postgres.shutdown()
        await admin.shutdown()
    }
})
