import ClientConfiguration
import Events
import Features
import Foundation
import HTTPSupport
import Kafka
import Postgres
import Redis
import Serving
import ServiceConfiguration

/// Everything the inference API is configured with (`inference-api --help-config`).
public struct InferenceConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8082
    public var adminToken = ""
    public var metadataRefresh: Duration = .seconds(10)
    public var catalogMinInterval: Duration = .milliseconds(250)
    public var popularMaxAge: Duration = .seconds(1)
    /// The window of `/v1/popular` without `window=` and of the popular strategy (one of `features.windows`).
    public var popularWindow = "24h"
    /// Serve top-N with implicit ALS even where the trainer chose another model (`inference.top_n_model`).
    public var alwaysImplicitALS = false
    /// Catalogs of at least this many items are scored through 8-bit item factors, then exactly for the best
    /// (`inference.quantized_scoring_min_items`).
    public var quantizedScoringMinItems = ServingModel.defaultQuantizedScoringMinItems
    /// Connections idle this long are closed (`http.idle_timeout`).
    public var idleTimeout: Duration = .seconds(30)
    /// A request must arrive whole within this long (`http.request_read_timeout`).
    public var requestReadTimeout = HTTPServerSettings.defaultRequestReadTimeout
    /// Connections held open at once (`http.max_connections`).
    public var maximumConnections = HTTPServerSettings.defaultMaximumConnections
    /// Routes run on their connection's event loop (`http.pin_to_event_loop`).
    public var pinToEventLoop = false
    /// One log line per request (`http.access_log`).
    public var accessLog = false
    /// `POST /v1/predict` calls per second over all callers, and the burst above it (`inference.predict_rate_limit`, `inference.predict_rate_burst`).
    public var predictRateLimit = 100.0
    public var predictRateBurst = 200.0
    /// The web page's static files (empty: no page).
    public var webRoot = "Services/InferenceAPI/web"
    /// Where the page posts events, and the producer key it may use (local demos only).
    public var ui = InferenceService.UIConfiguration()
    public var modelUpdatedTopic = "streamrec.model-updated"
    /// Publish a `recommendation.served` record per answer (`inference.impressions`), on this topic, through
    /// a queue of this many records (`inference.impressions_queue`).
    public var impressionsEnabled = true
    public var impressionsTopic = RecommendationServed.defaultTopic
    public var impressionsQueue = 10_000
    /// Partitions and replication of the impressions topic when this service creates it (`topics.partitions`,
    /// `topics.replication_factor`: as the event topics, so a user's impressions and events share a partition number).
    public var topicPartitions = 6
    public var topicReplicationFactor = 1
    /// How often the running experiments are re-read from PostgreSQL (`inference.experiment_refresh`).
    public var experimentRefresh: Duration = .seconds(5)
    public var features = FeatureConfiguration()
    public var redis: RedisConfiguration
    public var postgres: PostgresConfiguration
    public var consumer: KafkaConsumerConfiguration
    public var migrationsDirectory = "configs/migrations"
    /// Apply missing migrations (true, `postgres.apply_migrations`), or only check (see `SchemaMigrations`).
    public var applyMigrations = true

    public init(redis: RedisConfiguration, postgres: PostgresConfiguration, consumer: KafkaConsumerConfiguration) {
        self.redis = redis
        self.postgres = postgres
        self.consumer = consumer
    }

    public enum Keys {
        public static let host = ConfigKey("http.host", default: "127.0.0.1", "Address the HTTP server binds to")
        public static let port = ConfigKey("http.port", default: "8082", "HTTP port")
        public static let adminToken = ConfigKey("inference.admin_token", default: nil, "Bearer token of POST /v1/admin/reload (or inference.admin_token_file); unset disables the route", secret: true)
        public static let metadataRefresh = ConfigKey(
            "inference.metadata_refresh", default: "10s",
            "How often the registry's production versions are re-checked, and the catalog (titles, genres, poll questions) re-read if PostgreSQL's fingerprint of it changed, regardless of notifications (a safety net: catalog changes are also announced by LISTEN/NOTIFY and re-read at once)"
        )
        public static let catalogMinInterval = ConfigKey(
            "inference.catalog_min_interval", default: "250ms",
            "The least time between two catalog re-reads caused by catalog-change notifications (a burst of catalog events costs one re-read per interval)"
        )
        public static let popularMaxAge = ConfigKey(
            "inference.popular_max_age", default: "1s", "How long a popular list read from Redis is reused (0s: read on every request); bounds how stale /v1/popular and the popular strategy can be"
        )
        public static let popularWindow = ConfigKey(
            "inference.popular_window", default: "24h",
            "The window of /v1/popular without window= and of recommendations answered from popularity without window= (one of features.windows)"
        )
        public static let topNModel = ConfigKey(
            "inference.top_n_model", default: "trained",
            "trained: recommendations from the top-N model the trainer chose (sequence-aware EASE or implicit ALS); implicit-als: always ALS (less CPU per request with a large history)"
        )
        public static let quantizedScoringMinItems = ConfigKey(
            "inference.quantized_scoring_min_items", default: "\(ServingModel.defaultQuantizedScoringMinItems)",
            "Catalogs of at least this many items answer implicit ALS's top-N from 8-bit item factors (an upper bound of every item's score, a quarter of the bytes) and exact float scores of only the items whose bound can rank: the same items, scores and order as scoring every item, at a fraction of the CPU (needs AVX2; elsewhere every item is scored). 0: every catalog"
        )
        public static let webRoot = ConfigKey("inference.web_root", default: "Services/InferenceAPI/web", "Directory of the web page served at / (empty: no page)")
        public static let uiGatewayURL = ConfigKey("inference.ui_gateway_url", default: "http://127.0.0.1:8080", "The ingest gateway the web page posts events to (the gateway must list this API's origin in gateway.cors_origins)")
        public static let uiGatewayAPIKey = ConfigKey(
            "inference.ui_gateway_api_key", default: nil,
            "A producer key handed to every visitor of the web page (or inference.ui_gateway_api_key_file): for local demos only; unset, visitors type a key", secret: true
        )
        public static let predictRateLimit = ConfigKey(
            "inference.predict_rate_limit", default: "100",
            "POST /v1/predict calls per second, over all callers (0 = unlimited): the route resolves typed titles and folds in up to 500 ratings, so anonymous callers must not be able to take every core; past it, 429 with Retry-After"
        )
        public static let predictRateBurst = ConfigKey("inference.predict_rate_burst", default: "200", "POST /v1/predict calls allowed in a burst above inference.predict_rate_limit")
        public static let topic = ClientConfigKeys.modelUpdatedTopic
        public static let impressions = ConfigKey(
            "inference.impressions", default: "true",
            "Publish a recommendation.served record for every recommendation answer (asynchronous, bounded, dropped and counted when the broker is slow or down; answers carry their recommendation_id either way)"
        )
        public static let impressionsQueue = ConfigKey(
            "inference.impressions_queue", default: "10000",
            "recommendation.served records held in memory while the broker is slow or down; past it new ones are dropped (streamrec_api_impressions_dropped_total)"
        )
        public static let impressionsTopic = ClientConfigKeys.recommendationServedTopic
        public static let partitions = ClientConfigKeys.topicPartitions
        public static let replication = ClientConfigKeys.topicReplication
        public static let experimentRefresh = ConfigKey(
            "inference.experiment_refresh", default: "5s",
            "How often the running experiments (trainer experiment start|stop, POST /v1/admin/experiments) are re-read from PostgreSQL; the admin route applies its change at once on the instance it reached"
        )
        /// The API's own defaults for two shared keys: a recommendation is read, served from Redis and
        /// answered on one thread, with no hand-off to the cooperative pool or a lane thread (9–24 % less CPU
        /// per request at 2 000 requests/s, docs/benchmarks.md). Defaults rather than lines in
        /// configs/inference-api.conf, which a regenerated template once dropped unnoticed.
        public static let pinToEventLoop = HTTPServerSettings.pinToEventLoopKey.withDefault(
            "true", because: "with redis.io = event_loops a request stays on its connection's thread")
        public static let redisIO = ClientConfigKeys.redisIO.withDefault(
            "event_loops", because: "its routes run on the event loops (http.pin_to_event_loop), which then read Redis themselves")

        public static let all: [ConfigKey] = [
            host, port, HTTPServerSettings.idleTimeoutKey, HTTPServerSettings.requestTimeoutKey, HTTPServerSettings.maximumConnectionsKey,
            pinToEventLoop, HTTPServerSettings.accessLogKey, predictRateLimit, predictRateBurst, adminToken, metadataRefresh, catalogMinInterval, popularMaxAge, popularWindow, topNModel, quantizedScoringMinItems, webRoot, uiGatewayURL, uiGatewayAPIKey, topic, impressions, impressionsQueue, impressionsTopic, partitions, replication, experimentRefresh] + FeatureConfiguration.Keys.all
            + ClientConfigKeys.redis.map { $0.name == redisIO.name ? redisIO : $0 } + ClientConfigKeys.postgres + [ClientConfigKeys.postgresApplyMigrations, ClientConfigKeys.kafkaBrokers, ClientConfigKeys.kafkaDebug, ClientConfigKeys.kafkaStatisticsInterval]
            + ClientConfigKeys.kafkaSecurity
    }

    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        // Every instance must see every announcement: a consumer group of its own (from the earliest
        // record: replaying old announcements is harmless, a reload of the served version does nothing).
        var consumer = KafkaConsumerConfiguration(
            bootstrapServers: try reader.list(ClientConfigKeys.kafkaBrokers), groupID: "inference-api-\(UUID().uuidString.prefix(8).lowercased())",
            clientID: "inference-api", security: try KafkaSecurity(reading: reader), autoOffsetReset: .earliest,
            additionalProperties: try KafkaProducerConfiguration.diagnosticProperties(reader)
        )
        consumer.maxBatchSize = 100
        self.init(
            redis: try RedisConfiguration(reading: reader), postgres: try PostgresConfiguration(reading: reader, applicationName: "inference-api"),
            consumer: consumer
        )
        host = try reader.string(Keys.host)
        port = try reader.int(Keys.port, range: 0...65535)
        idleTimeout = try reader.duration(HTTPServerSettings.idleTimeoutKey)
        requestReadTimeout = try reader.duration(HTTPServerSettings.requestTimeoutKey)
        maximumConnections = try reader.int(HTTPServerSettings.maximumConnectionsKey, range: 1...1_000_000)
        pinToEventLoop = try reader.bool(Keys.pinToEventLoop)
        accessLog = try reader.bool(HTTPServerSettings.accessLogKey)
        predictRateLimit = Double(try reader.int(Keys.predictRateLimit, range: 0...1_000_000))
        predictRateBurst = Double(try reader.int(Keys.predictRateBurst, range: 1...1_000_000))
        adminToken = try reader.optionalString(Keys.adminToken) ?? ""
        if !adminToken.isEmpty, adminToken.utf8.count < 16 {
            throw ConfigurationError(key: Keys.adminToken.name, message: "use at least 16 characters")
        }
        metadataRefresh = try reader.duration(Keys.metadataRefresh)
        guard metadataRefresh > .zero else { throw ConfigurationError(key: Keys.metadataRefresh.name, message: "must be more than 0s") }
        catalogMinInterval = try reader.duration(Keys.catalogMinInterval)
        popularMaxAge = try reader.duration(Keys.popularMaxAge)
        webRoot = try reader.string(Keys.webRoot)
        ui = InferenceService.UIConfiguration(gatewayURL: try reader.string(Keys.uiGatewayURL), gatewayAPIKey: try reader.optionalString(Keys.uiGatewayAPIKey))
        modelUpdatedTopic = try reader.string(Keys.topic)
        impressionsEnabled = try reader.bool(Keys.impressions)
        impressionsQueue = try reader.int(Keys.impressionsQueue, range: 1...10_000_000)
        impressionsTopic = try reader.string(Keys.impressionsTopic)
        topicPartitions = try reader.int(Keys.partitions, range: 1...10_000)
        topicReplicationFactor = try reader.int(Keys.replication, range: 1...100)
        experimentRefresh = try reader.duration(Keys.experimentRefresh)
        guard experimentRefresh > .zero else { throw ConfigurationError(key: Keys.experimentRefresh.name, message: "must be more than 0s") }
        features = try FeatureConfiguration(reading: reader)
        popularWindow = try reader.string(Keys.popularWindow)
        guard features.window(named: popularWindow) != nil else {
            throw ConfigurationError(key: Keys.popularWindow.name, message: "not one of the windows in \(FeatureConfiguration.Keys.windows.name)")
        }
        switch try reader.string(Keys.topNModel) {
        case "trained": alwaysImplicitALS = false
        case "implicit-als": alwaysImplicitALS = true
        case let other: throw ConfigurationError(key: Keys.topNModel.name, message: "trained or implicit-als, got \(other)")
        }
        quantizedScoringMinItems = try reader.int(Keys.quantizedScoringMinItems, range: 0...Int.max)
        migrationsDirectory = try reader.string(ClientConfigKeys.postgresMigrationsDirectory)
        applyMigrations = try reader.bool(ClientConfigKeys.postgresApplyMigrations)
    }
}
