import ClientConfiguration
import ClientRuntime
import Events
import Features
import Kafka
import Outcomes
import Postgres
import Redis
import ServiceConfiguration

/// Everything the stream processor is configured with (`stream-processor --help-config`).
public struct ProcessorConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    /// Operational endpoints only: /healthz, /readyz, /metrics.
    public var port: Int = 8081
    public var topics = EventTopics()
    public var deadLetterTopic: String = "streamrec.dead-letter"
    public var topicPartitions: Int = 6
    public var topicReplicationFactor: Int = 1
    /// Waits between attempts while a dependency is down (the batch is retried, never skipped).
    public var retryBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
    public var features = FeatureConfiguration()
    /// Whether the outcome consumer counts experiment outcomes (``OutcomeService``), and how.
    /// Off by default: see `Keys.outcomesEnabled`.
    public var outcomesEnabled = false
    /// Outcome keys share `features.keyPrefix`.
    public var outcomes = OutcomeWriter.Configuration()
    /// The API's impressions (`topics.recommendation_served`).
    public var impressionTopic: String = "recommendation.served"
    public var consumer: KafkaConsumerConfiguration
    public var producer: KafkaProducerConfiguration
    public var redis: RedisConfiguration
    public var postgres: PostgresConfiguration
    public var migrationsDirectory: String = "configs/migrations"
    /// Apply missing migrations at start (true, `postgres.apply_migrations`), or only check (see `SchemaMigrations`).
    public var applyMigrations = true
    /// Records above this size go to the dead-letter topic unparsed.
    public var maximumRecordBytes: Int = Self.defaultMaximumRecordBytes
    /// Four times the gateway's largest event (64 KiB): canonical JSON of a valid event never comes near it.
    public static let defaultMaximumRecordBytes = EventRecordCheck.defaultMaximumRecordBytes

    public init(consumer: KafkaConsumerConfiguration, producer: KafkaProducerConfiguration, redis: RedisConfiguration, postgres: PostgresConfiguration) {
        self.consumer = consumer
        self.producer = producer
        self.redis = redis
        self.postgres = postgres
    }
}

extension ProcessorConfiguration {
    public enum Keys {
        public static let host = ConfigKey("http.host", default: "127.0.0.1", "Address of the operational endpoints (/healthz, /readyz, /metrics)")
        public static let port = ConfigKey("http.port", default: "8081", "Port of the operational endpoints")
        public static let deadLetterTopic = ConfigKey("topics.dead_letter", default: "streamrec.dead-letter", "Records that cannot be decoded go here, with the error in headers")
        public static let batchSize = ConfigKey(
            "processor.batch_size", default: "20000",
            "Most records applied in one batch (and at most 64 MiB of them); larger batches sum more popularity per Redis command when behind"
        )
        public static let batchLinger = ConfigKey("processor.batch_linger", default: "20ms", "After a batch's first record, how long to wait for more")
        public static let retryInitial = ConfigKey("processor.retry_initial", default: "100ms", "First wait before retrying a batch while a dependency is down")
        public static let maxRecordBytes = ConfigKey(
            "processor.max_record_bytes", default: "262144", "Records larger than this go to the dead-letter topic unparsed (reason record_too_large)"
        )
        public static let retryMaximum = ConfigKey("processor.retry_maximum", default: "2s", "Longest wait between retries of a batch")
        public static let outcomesEnabled = ConfigKey(
            "outcomes.enabled", default: "false",
            "Count experiment outcomes: a second consumer (group <kafka.group_id>.outcomes) reads impressions and events (docs/experiments.md). "
                + "Off by default: on the local Tansu broker the feature group has been left without an assignment beside it under SIGKILL churn"
        )
        public static let attributionWindow = ConfigKey(
            "outcomes.attribution_window", default: "30m",
            "An interaction without a recommendation_id is attributed to the user's latest answer that showed the item this long before"
        )

        public static let all: [ConfigKey] = [host, port, deadLetterTopic, batchSize, batchLinger, retryInitial, retryMaximum, maxRecordBytes, outcomesEnabled, attributionWindow]
            + [ClientConfigKeys.recommendationServedTopic]
            + ClientConfigKeys.eventTopics + FeatureConfiguration.Keys.all + [FeatureConfiguration.Keys.cachedUsers]
            + ClientConfigKeys.kafkaConsumer + [ClientConfigKeys.kafkaDeliveryTimeout] + ClientConfigKeys.redis + ClientConfigKeys.postgres + [ClientConfigKeys.postgresApplyMigrations]
    }

    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        var consumer = try KafkaConsumerConfiguration(reading: reader, clientID: "stream-processor")
        consumer.maxBatchSize = try reader.int(Keys.batchSize, range: 1...100_000)
        consumer.batchLinger = try reader.duration(Keys.batchLinger)
        // Only dead letters are produced; they must be acknowledged before the batch commits.
        let producer = KafkaProducerConfiguration(
            bootstrapServers: consumer.bootstrapServers, clientID: "stream-processor-dlq", security: consumer.security,
            deliveryTimeout: try reader.duration(ClientConfigKeys.kafkaDeliveryTimeout)
        )
        self.init(
            consumer: consumer, producer: producer, redis: try RedisConfiguration(reading: reader),
            postgres: try PostgresConfiguration(reading: reader, applicationName: "stream-processor")
        )
        host = try reader.string(Keys.host)
        port = try reader.int(Keys.port, range: 0...65535)
        topics = try EventTopics(reading: reader)
        deadLetterTopic = try reader.string(Keys.deadLetterTopic)
        topicPartitions = try reader.int(ClientConfigKeys.topicPartitions, range: 1...10_000)
        topicReplicationFactor = try reader.int(ClientConfigKeys.topicReplication, range: 1...100)
        retryBackoff = Backoff(initial: try reader.duration(Keys.retryInitial), maximum: try reader.duration(Keys.retryMaximum))
        features = try FeatureConfiguration(reading: reader)
        features.cachedUsers = try reader.int(FeatureConfiguration.Keys.cachedUsers, range: 0...100_000_000)
        migrationsDirectory = try reader.string(ClientConfigKeys.postgresMigrationsDirectory)
        applyMigrations = try reader.bool(ClientConfigKeys.postgresApplyMigrations)
        maximumRecordBytes = try reader.int(Keys.maxRecordBytes, range: 1024...(64 << 20))
        outcomesEnabled = try reader.bool(Keys.outcomesEnabled)
        outcomes.attributionWindow = try reader.duration(Keys.attributionWindow)
        impressionTopic = try reader.string(ClientConfigKeys.recommendationServedTopic)
    }
}
