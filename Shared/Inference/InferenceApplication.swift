import ClientConfiguration
import Events
import Features
import Foundation
import HTTPSupport
import Hummingbird
import Kafka
import Logging
import Outcomes
import Metrics
import ModelStore
import Postgres
import Redis
import ServiceConfiguration
import ServiceLifecycle
import ServiceSupport
import Serving
import ModelRegistry

/// Wires the API: clients, the served models, the catalog cache, routes and background services.
public struct InferenceApplication: Sendable {
    public let configuration: InferenceConfiguration
    public let service: InferenceService
    let redis: RedisClient
    let postgres: PostgresClient
    let refresher: MetadataRefresher
    let metrics: ServiceMetrics
    let logger: Logger
    /// `tracing.enabled`: a server span per request (Hummingbird's `TracingMiddleware`, continuing the
    /// caller's `traceparent` or starting a trace) and its context answered as `traceresponse`.
    var tracing = false

    /// Connects, applies migrations (or checks them: `postgres.apply_migrations`) and loads what exists (no model yet: popular only; a model that
    /// fails to load is logged and retried on the next announcement or admin reload).
    public static func start(configuration: InferenceConfiguration, metrics: ServiceMetrics, logger: Logger, tracing: Bool = false) async throws -> InferenceApplication {
        let redis = RedisClient(configuration: configuration.redis, logger: logger)
        let postgres = PostgresClient(configuration: configuration.postgres, logger: logger)
        let registry = ModelRegistry(postgres: postgres)
        let factory = metrics.factory
        let models = ModelRepository(
            registry: registry, artifacts: ArtifactStore(root: "."), logger: logger, quantizedScoringMinItems: configuration.quantizedScoringMinItems
        ) { domain, version, previous in
            // streamrec_api_model_info{domain, version} = 1 for the served version (0 for the one replaced):
            // the dashboard's "model version" and an alert on a domain without a model.
            if let previous { Gauge(label: "streamrec_api_model_info", dimensions: [("domain", domain), ("version", previous)], factory: factory).record(0) }
            Gauge(label: "streamrec_api_model_info", dimensions: [("domain", domain), ("version", version)], factory: factory).record(1)
        }
        let catalog = CatalogMetadata()
        // PostgreSQL down at start is not fatal: the API serves popular lists from Redis meanwhile and
        // the refresher loads the schema, models and catalog when it is back.
        let refresher = MetadataRefresher(
            catalog: catalog, models: models, postgres: postgres,
            migrations: SchemaMigrations(directory: configuration.migrationsDirectory, apply: configuration.applyMigrations),
            interval: configuration.metadataRefresh, minimumInterval: configuration.catalogMinInterval, logger: logger
        )
        await refresher.refreshOnce(initial: true)
        // The announcement topic, so the listener can subscribe before the first promotion (creating it
        // is idempotent; a broker that is down now only delays hot reloads).
        do {
            let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(for: configuration.consumer), logger: logger)
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
        // Impressions: a producer of their own (not idempotent, short timeout), behind a bounded queue.
        let impressions = configuration.impressionsEnabled
            ? try ImpressionEmitter(
                configuration: ImpressionEmitter.Configuration(
                    topic: configuration.impressionsTopic, queueCapacity: configuration.impressionsQueue,
                    partitions: configuration.topicPartitions, replicationFactor: configuration.topicReplicationFactor,
                    producer: ImpressionEmitter.Configuration.producer(
                        bootstrapServers: configuration.consumer.bootstrapServers, security: configuration.consumer.security,
                        additionalProperties: configuration.consumer.additionalProperties
                    )
                ),
                metricsFactory: factory, logger: logger
            )
            : nil
        let service = InferenceService(
            engine: engine, features: features, catalog: catalog, models: models, adminToken: configuration.adminToken,
            clock: { Int64(Date().timeIntervalSince1970 * 1000) }, ui: configuration.ui,
            predictLimiter: RateLimiter(ratePerSecond: configuration.predictRateLimit, burst: configuration.predictRateBurst),
            impressions: impressions,
            experiments: ExperimentAssignments(store: ExperimentStore(postgres: postgres), models: models, interval: configuration.experimentRefresh, logger: logger),
            outcomes: { [reader = OutcomeReader(keyPrefix: configuration.features.keyPrefix, redis: redis)] experiment in
                // Null while Redis cannot be read: the experiment itself is still listed.
                (try? await reader.figures(experiment))?.jsonValue() ?? .null
            }
        )
        await service.experiments?.refreshOnce()
        return InferenceApplication(
            configuration: configuration, service: service, redis: redis, postgres: postgres, refresher: refresher, metrics: metrics, logger: logger,
            tracing: tracing
        )
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        if tracing {
            router.middlewares.add(TracingMiddleware())
            router.middlewares.add(TraceResponseMiddleware())
        }
        // Requests, errors and durations per route and status (hb_requests_total,
        // http_server_request_duration_seconds), through the global metrics factory.
        router.middlewares.add(MetricsMiddleware())
        // Outside the error middleware: it sees every answer's final status and request id.
        if configuration.accessLog { router.middlewares.add(AccessLogMiddleware(logger: logger)) }
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        if !configuration.webRoot.isEmpty {
            // The page: index.html at /, its script and style beside it.
            router.middlewares.add(FileMiddleware(configuration.webRoot, searchForIndexHtml: true, logger: logger))
        }
        InferenceRoutes.add(to: router, service: service)
        let redis = redis
        let postgres = postgres
        let models = service.models
        let refresher = refresher
        // Every dependency only degrades the answers (model-only, cached popular, cached metadata, popular
        // only): the instance stays in rotation.
        OperationalRoutes.add(to: router, metrics: metrics, degradable: ["redis", "postgres", "models"]) {
            var checks = await DependencyProbes.readiness(redis: redis, postgres: postgres)
            let loaded = EventDomain.allCases.filter { models.model(for: $0) != nil }
            checks.append(("models", loaded.isEmpty ? "no production model loaded: popular only" : nil))
            // Not degradable: an instance that only checks the schema and found a migration missing
            // would answer from tables it does not know; it stays out of rotation until it is applied.
            checks.append(("schema", refresher.schemaProblem))
            return checks
        }
        return router
    }

    /// Start order; shutdown runs in reverse (the HTTP server finishes its requests first).
    public func services() throws -> [any Service] {
        let statistics = KafkaStatisticsMetrics(factory: metrics.factory)
        let consumer = try KafkaConsumer(configuration: configuration.consumer, logger: logger, onStatistics: statistics.record)
        // The emitter starts before the HTTP server and so stops after it: the last answers' records are sent.
        var services: [any Service] = [consumer]
        if let impressions = service.impressions { services.append(impressions) }
        services.append(ModelUpdateListener(consumer: consumer, topic: configuration.modelUpdatedTopic, logger: logger) { [models = service.models] name in
            // A domain this build does not serve has no model to reload.
            guard let domain = EventDomain(name: name) else { return }
            _ = try await models.reload(domain: domain)
        })
        services.append(refresher)
        if let experiments = service.experiments { services.append(experiments) }
        services.append(Application(
            router: router(),
            server: HTTPServerSettings.server(
                idleTimeout: configuration.idleTimeout, requestReadTimeout: configuration.requestReadTimeout,
                maximumConnections: configuration.maximumConnections, pinnedToEventLoop: configuration.pinToEventLoop
            ),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "inference-api"),
            logger: logger
        ))
        return services
    }

    public func shutdown() async {
        await redis.shutdown()
        await postgres.shutdown()
    }
}
