import ClientConfiguration
import Events
import Features
import Foundation
import HTTPSupport
import Hummingbird
import Kafka
import Logging
import Metrics
import ModelStore
import Postgres
import Redis
import ServiceConfiguration
import ServiceLifecycle
import ServiceSupport
import Serving
import Synchronization
import ModelRegistry

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
    /// Connections idle this long are closed (`http.idle_timeout`).
    public var idleTimeout: Duration = .seconds(30)
    /// A request must arrive whole within this long (`http.request_read_timeout`).
    public var requestReadTimeout = HTTPServerSettings.defaultRequestReadTimeout
    /// Connections held open at once (`http.max_connections`).
    public var maximumConnections = HTTPServerSettings.defaultMaximumConnections
    /// Routes run on their connection's event loop (`http.pin_to_event_loop`).
    public var pinToEventLoop = false
    /// `POST /v1/predict` calls per second over all callers, and the burst above it (`inference.predict_rate_limit`, `inference.predict_rate_burst`).
    public var predictRateLimit = 100.0
    public var predictRateBurst = 200.0
    /// The web page's static files (empty: no page).
    public var webRoot = "Services/InferenceAPI/web"
    /// Where the page posts events, and the producer key it may use (local demos only).
    public var ui = InferenceService.UIConfiguration()
    public var modelUpdatedTopic = "streamrec.model-updated"
    public var features = FeatureConfiguration()
    public var redis: RedisConfiguration
    public var postgres: PostgresConfiguration
    public var consumer: KafkaConsumerConfiguration
    public var migrationsDirectory = "configs/migrations"

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
            "How often titles, genres, poll questions and the registry's production versions are re-read from PostgreSQL regardless of notifications (a safety net: catalog changes are also announced by LISTEN/NOTIFY and re-read at once)"
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
        public static let topic = ConfigKey("topics.model_updated", default: "streamrec.model-updated", "Topic on which the trainer announces promotions (each API instance reloads)")

        public static let all: [ConfigKey] = [
            host, port, HTTPServerSettings.idleTimeoutKey, HTTPServerSettings.requestTimeoutKey, HTTPServerSettings.maximumConnectionsKey,
            HTTPServerSettings.pinToEventLoopKey, predictRateLimit, predictRateBurst, adminToken, metadataRefresh, catalogMinInterval, popularMaxAge, popularWindow, topNModel, webRoot, uiGatewayURL, uiGatewayAPIKey, topic] + FeatureConfiguration.Keys.all
            + ClientConfigKeys.redis + ClientConfigKeys.postgres + [ClientConfigKeys.kafkaBrokers, ClientConfigKeys.kafkaDebug]
    }

    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        // Every instance must see every announcement: a consumer group of its own (from the earliest
        // record: replaying old announcements is harmless, a reload of the served version does nothing).
        var consumer = KafkaConsumerConfiguration(
            bootstrapServers: try reader.list(ClientConfigKeys.kafkaBrokers), groupID: "inference-api-\(UUID().uuidString.prefix(8).lowercased())",
            clientID: "inference-api", autoOffsetReset: .earliest
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
        pinToEventLoop = try reader.bool(HTTPServerSettings.pinToEventLoopKey)
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
        migrationsDirectory = try reader.string(ClientConfigKeys.postgresMigrationsDirectory)
    }
}

/// Wires the API: clients, the served models, the catalog cache, routes and background services.
public struct InferenceApplication: Sendable {
    public let configuration: InferenceConfiguration
    public let service: InferenceService
    let redis: RedisClient
    let postgres: PostgresClient
    let refresher: MetadataRefresher
    let metrics: ServiceMetrics
    let logger: Logger

    /// Connects, applies migrations and loads what exists (no model yet: popular only; a model that
    /// fails to load is logged and retried on the next announcement or admin reload).
    public static func start(configuration: InferenceConfiguration, metrics: ServiceMetrics, logger: Logger) async throws -> InferenceApplication {
        let redis = RedisClient(configuration: configuration.redis, logger: logger)
        let postgres = PostgresClient(configuration: configuration.postgres, logger: logger)
        let registry = ModelRegistry(postgres: postgres)
        let factory = metrics.factory
        let models = ModelRepository(registry: registry, artifacts: ArtifactStore(root: "."), logger: logger) { domain, version, previous in
            // streamrec_api_model_info{domain, version} = 1 for the served version (0 for the one replaced):
            // the dashboard's "model version" and an alert on a domain without a model.
            if let previous { Gauge(label: "streamrec_api_model_info", dimensions: [("domain", domain), ("version", previous)], factory: factory).record(0) }
            Gauge(label: "streamrec_api_model_info", dimensions: [("domain", domain), ("version", version)], factory: factory).record(1)
        }
        let catalog = CatalogMetadata()
        // PostgreSQL down at start is not fatal: the API serves popular lists from Redis meanwhile and
        // the refresher loads the schema, models and catalog when it is back.
        let refresher = MetadataRefresher(
            catalog: catalog, models: models, postgres: postgres, migrationsDirectory: configuration.migrationsDirectory,
            interval: configuration.metadataRefresh, minimumInterval: configuration.catalogMinInterval, logger: logger
        )
        await refresher.refreshOnce(initial: true)
        // The announcement topic, so the listener can subscribe before the first promotion (creating it
        // is idempotent; a broker that is down now only delays hot reloads).
        do {
            let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: configuration.consumer.bootstrapServers), logger: logger)
            defer { Task { await admin.shutdown() } }
            if !(try await admin.listTopics()).contains(configuration.modelUpdatedTopic) {
                _ = try await admin.createTopics([KafkaTopicSpecification(name: configuration.modelUpdatedTopic, partitions: 1)])
            }
        } catch {
            logger.warning("could not make sure the model-updated topic exists", metadata: ["error": "\(error)"])
        }
        let features = FeatureReader(configuration: configuration.features, redis: redis)
        var engine = RecommendationEngine(models: models, features: features) { domain, id in catalog.groups(domain, id) }
        engine.popularMaxAge = configuration.popularMaxAge
        engine.popularWindow = configuration.popularWindow
        engine.alwaysImplicitALS = configuration.alwaysImplicitALS
        let service = InferenceService(
            engine: engine, features: features, catalog: catalog, models: models, adminToken: configuration.adminToken,
            clock: { Int64(Date().timeIntervalSince1970 * 1000) }, ui: configuration.ui,
            predictLimiter: RateLimiter(ratePerSecond: configuration.predictRateLimit, burst: configuration.predictRateBurst)
        )
        return InferenceApplication(
            configuration: configuration, service: service, redis: redis, postgres: postgres, refresher: refresher, metrics: metrics, logger: logger
        )
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        // Requests, errors and durations per route and status (hb_requests_total,
        // http_server_request_duration_seconds), through the global metrics factory.
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        if !configuration.webRoot.isEmpty {
            // The page: index.html at /, its script and style beside it.
            router.middlewares.add(FileMiddleware(configuration.webRoot, searchForIndexHtml: true, logger: logger))
        }
        InferenceRoutes.add(to: router, service: service)
        let redis = redis
        let postgres = postgres
        let models = service.models
        // Every dependency only degrades the answers (model-only, cached popular, cached metadata, popular
        // only): the instance stays in rotation.
        OperationalRoutes.add(to: router, metrics: metrics, degradable: ["redis", "postgres", "models"]) {
            var checks = await DependencyProbes.readiness(redis: redis, postgres: postgres)
            let loaded = ["movies", "polls"].filter { models.model(for: $0) != nil }
            checks.append(("models", loaded.isEmpty ? "no production model loaded: popular only" : nil))
            return checks
        }
        return router
    }

    /// Start order; shutdown runs in reverse (the HTTP server finishes its requests first).
    public func services() throws -> [any Service] {
        let consumer = try KafkaConsumer(configuration: configuration.consumer, logger: logger)
        return [
            consumer,
            ModelUpdateListener(consumer: consumer, topic: configuration.modelUpdatedTopic, models: service.models, logger: logger),
            refresher,
            Application(
                router: router(),
                server: HTTPServerSettings.server(
                    idleTimeout: configuration.idleTimeout, requestReadTimeout: configuration.requestReadTimeout,
                    maximumConnections: configuration.maximumConnections, pinnedToEventLoop: configuration.pinToEventLoop
                ),
                configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "inference-api"),
                logger: logger
            ),
        ]
    }

    public func shutdown() async {
        await redis.shutdown()
        await postgres.shutdown()
    }
}

/// Hot reload: every `model-updated` record makes this instance load the domain's production model
/// (verified, then swapped; a bad artifact is refused and the old model keeps serving).
struct ModelUpdateListener: Service {
    let consumer: KafkaConsumer
    let topic: String
    let models: ModelRepository
    let logger: Logger

    func run() async throws {
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
                    try await models.reload(domain: domain)
                } catch {
                    logger.error("announced model refused; the previous one keeps serving", metadata: ["domain": "\(domain)", "error": "\(error)"])
                }
            }
            try? await consumer.commit(records)
        }
    }
}

/// Keeps the catalog and the served models current: re-reads the catalog as soon as PostgreSQL announces
/// a catalog change (`NOTIFY streamrec_catalog`, sent by a trigger on the catalog tables, migration 0003),
/// so new movies and polls appear within a fraction of a second, and everything every `interval` anyway
/// (a missed notification, a missed model announcement, or PostgreSQL down at start heal by themselves).
/// A failed refresh keeps the last copy.
final class MetadataRefresher: Service, Sendable {
    /// The channel migration 0003's trigger notifies, with `schema.table` as payload.
    static let catalogChannel = "streamrec_catalog"

    let catalog: CatalogMetadata
    let models: ModelRepository
    let postgres: PostgresClient
    let migrationsDirectory: String
    let interval: Duration
    let minimumInterval: Duration
    let logger: Logger
    private let migrated = Mutex(false)
    private let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation
    /// Refreshes caused by notifications (and the listener's reconnections), for tests.
    let notifiedRefreshes = Atomic<Int>(0)
    /// Set by the periodic tick and by the listener's (re)connection: the next refresh also re-checks the
    /// registry's production models. A catalog notification alone re-reads only the catalog (a burst of
    /// catalog events must not re-verify a model artifact several times a second).
    private let fullRefreshDue = Atomic<Bool>(true)
    /// The schema that holds this instance's catalog tables, as PostgreSQL names it (what the trigger puts
    /// in its payload); nil until known, and then every notification counts.
    private let catalogSchema = Mutex<String?>(nil)

    init(
        catalog: CatalogMetadata, models: ModelRepository, postgres: PostgresClient, migrationsDirectory: String, interval: Duration,
        minimumInterval: Duration = .milliseconds(250), logger: Logger
    ) {
        self.catalog = catalog
        self.models = models
        self.postgres = postgres
        self.migrationsDirectory = migrationsDirectory
        self.interval = interval
        self.minimumInterval = minimumInterval
        self.logger = logger
        // Newest-only with room for one: requests made during a refresh collapse into one more refresh.
        (wakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a refresh soon (at most one per `minimumInterval`); `full` also re-checks the models.
    func requestRefresh(full: Bool = true) {
        if full { fullRefreshDue.store(true, ordering: .releasing) }
        wakeUp.yield()
    }

    func run() async throws {
        let listener = PostgresNotificationListener(configuration: postgres.configuration, channel: Self.catalogChannel, logger: logger) { [self] event in
            switch event {
            case .listening:
                // Whatever changed while nobody listened was not announced: re-read once.
                notifiedRefreshes.add(1, ordering: .relaxed)
                requestRefresh(full: true)
            case .notification(let notification):
                // Several schemas may share the database (tests, staging beside production): only ours count.
                if concernsOurCatalog(notification.payload) {
                    notifiedRefreshes.add(1, ordering: .relaxed)
                    requestRefresh(full: false)
                }
            }
        }
        listener.start()
        let interval = interval
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    requestRefresh(full: true)
                }
            }
            for await _ in wakeUps.cancelOnGracefulShutdown() {
                await refreshOnce(initial: false, modelsToo: fullRefreshDue.exchange(false, ordering: .acquiringAndReleasing))
                try? await Task.sleep(for: minimumInterval)
            }
            group.cancelAll()
        }
        await listener.shutdown()
    }

    /// Whether a `schema.table` payload names one of our catalog tables (any schema until ours is known).
    func concernsOurCatalog(_ payload: String) -> Bool {
        guard let schema = catalogSchema.withLock({ $0 }) else { return true }
        return payload == schema + ".movies" || payload == schema + ".polls"
    }

    /// Schema (until it has been applied once), catalog, then (`modelsToo`) each domain's production model.
    /// A schema that cannot be checked (PostgreSQL down, or a role without DDL rights meeting a migration
    /// its schema owner has not applied yet) does not stop the catalog and models from being read.
    func refreshOnce(initial: Bool, modelsToo: Bool = true) async {
        if !migrated.withLock({ $0 }) {
            do {
                _ = try await PostgresMigrator(directory: migrationsDirectory).migrate(postgres)
                migrated.withLock { $0 = true }
            } catch {
                logger.warning("PostgreSQL schema not checked; retrying every refresh", metadata: ["error": "\(error)"])
            }
        }
        if catalogSchema.withLock({ $0 }) == nil {
            // Where our catalog tables live, named as the trigger names them (unquoted, exact case).
            let row = try? await postgres.query("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass('polls')").first
            if let schema = try? row?.decode(0, as: String.self) { catalogSchema.withLock { $0 = schema } }
        }
        do {
            try await catalog.refresh(from: postgres)
        } catch {
            logger.warning("catalog refresh failed; serving the last copy", metadata: ["error": "\(error)"])
        }
        guard modelsToo else { return }
        for domain in ["movies", "polls"] {
            do {
                if try await models.reload(domain: domain) == nil, initial {
                    logger.warning("no production model yet; serving popular only", metadata: ["domain": "\(domain)"])
                }
            } catch {
                logger.error("production model could not be loaded; the one served (if any) stays", metadata: ["domain": "\(domain)", "error": "\(error)"])
            }
        }
    }
}
