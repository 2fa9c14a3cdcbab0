import Foundation
import Kafka
import Postgres
import Redis
import ServiceSupport

// The stream processor turns events into Redis features and the Postgres training store. At this
// stage it checks its configuration, Redis, PostgreSQL (applying migrations) and the broker, then exits.
let check = ServiceCheck(
    service: "stream-processor", summary: "The stream processor: Kafka consumer group → Redis features + PostgreSQL training store.",
    keys: ClientConfigKeys.kafkaConsumer + ClientConfigKeys.redis + ClientConfigKeys.postgres
)
exit(await check.run { reader, logger in
    let consumerConfiguration = try KafkaConsumerConfiguration(reading: reader, clientID: "stream-processor")
    let redis = RedisClient(configuration: try RedisConfiguration(reading: reader), logger: logger)
    let postgres = PostgresClient(configuration: try PostgresConfiguration(reading: reader, applicationName: "stream-processor"), logger: logger)
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: consumerConfiguration.bootstrapServers), logger: logger)
    return try await withCleanup {
        let applied = try await PostgresMigrator(directory: try reader.string(ClientConfigKeys.postgresMigrationsDirectory)).migrate(postgres)
        return [
            try await DependencyProbes.redis(redis),
            try await DependencyProbes.postgres(postgres) + ", migrations applied now: \(applied)",
            try await DependencyProbes.kafka(admin),
        ]
    } cleanup: {
        await redis.shutdown()
        await postgres.shutdown()
        await admin.shutdown()
    }
})
