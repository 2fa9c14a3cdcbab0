import Foundation
import Kafka
import Postgres
import Redis
import ServiceSupport

// The inference API serves recommendations from Redis features, model artifacts and Postgres
// metadata. At this stage it checks its configuration and dependencies, then exits.
let check = ServiceCheck(
    service: "inference-api", summary: "The inference API: Redis features + model artifacts + PostgreSQL metadata → recommendations.",
    keys: ClientConfigKeys.redis + ClientConfigKeys.postgres + ClientConfigKeys.kafkaConsumer
)
exit(await check.run { reader, logger in
    let redis = RedisClient(configuration: try RedisConfiguration(reading: reader), logger: logger)
    let postgres = PostgresClient(configuration: try PostgresConfiguration(reading: reader, applicationName: "inference-api"), logger: logger)
    return try await withCleanup {
        return [try await DependencyProbes.redis(redis), try await DependencyProbes.postgres(postgres)]
    } cleanup: {
        await redis.shutdown()
        await postgres.shutdown()
    }
})
