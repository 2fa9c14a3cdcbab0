import Events
import HTTPSupport
import Hummingbird
import Kafka
import Logging
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// Keeps the event topics created and the broker's metadata fresh, for `/readyz`.
public final class BrokerReadiness: Service, Sendable {
    private struct State {
        var topicsCreated = false
        var lastSuccess: ContinuousClock.Instant?
        var lastError: String? = "not checked yet"
    }

    private let admin: KafkaAdmin
    private let configuration: IngestConfiguration
    private let producers: ProducerSlot
    private let logger: Logger
    private let state = Mutex(State())

    public init(admin: KafkaAdmin, producers: ProducerSlot, configuration: IngestConfiguration, logger: Logger) {
        self.admin = admin
        self.producers = producers
        self.configuration = configuration
        self.logger = logger
    }

    /// Stops using the admin client (for owners that do not run this as a service).
    public func shutdown() async {
        await admin.shutdown()
    }

    /// Creates missing topics and refreshes metadata every interval until shutdown. The wait ends at once
    /// on SIGTERM (`cancelWhenGracefulShutdown`): the gateway exits without waiting out an interval.
    public func run() async throws {
        let interval = configuration.readinessInterval
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await check()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        await admin.shutdown()
    }

    /// One round: make sure the event topics exist (a broker that lost its data gets them back), ask
    /// for metadata, and let the producer slot replace a stuck producer.
    public func check() async {
        do {
            let existing = Set(try await admin.listTopics())
            if !configuration.topics.all.allSatisfy(existing.contains) {
                let created = try await admin.createTopics(configuration.topics.all.map {
                    KafkaTopicSpecification.durable(name: $0, partitions: configuration.topicPartitions, replicationFactor: configuration.topicReplicationFactor)
                })
                if !created.isEmpty { logger.info("created event topics", metadata: ["topics": "\(created)"]) }
            }
            // The topics exist now, whether created by this call or already there (a restarted gateway).
            state.withLock { $0.topicsCreated = true }
            state.withLock {
                $0.lastSuccess = .now
                $0.lastError = nil
            }
            await producers.replaceIfStuck(brokerReachable: true)
        } catch {
            let wasHealthy = state.withLock { state -> Bool in
                defer { state.lastError = "\(error)" }
                return state.lastError == nil
            }
            if wasHealthy { logger.warning("broker not reachable", metadata: ["error": "\(error)"]) }
        }
    }

    /// Readiness checks: `nil` means fine.
    public func checks() -> [(String, String?)] {
        let (lastSuccess, lastError, topicsCreated) = state.withLock { ($0.lastSuccess, $0.lastError, $0.topicsCreated) }
        let stale = lastSuccess.map { ContinuousClock.now - $0 > configuration.readinessInterval * 3 } ?? true
        var broker: String?
        if let fatal = producers.producer.fatalError {
            broker = "producer failed: \(fatal.name)"
        } else if stale {
            broker = lastError ?? "broker metadata is stale"
        }
        return [("broker", broker), ("topics", topicsCreated ? nil : "event topics not created yet")]
    }
}

/// Builds the gateway's HTTP application: routes, operational endpoints, error handling.
public enum IngestApplication {
    public static func router(service: IngestService, readiness: BrokerReadiness?, metrics: ServiceMetrics) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        // Tracing on: a server span per request (continuing the caller's traceparent or starting a trace),
        // whose context the events' Kafka headers carry, answered as `traceresponse`. Off: neither.
        if service.instrument != nil {
            router.middlewares.add(TracingMiddleware())
            router.middlewares.add(TraceResponseMiddleware())
        }
        // The HTTP metrics the inference API has too, by the same names (hb_requests_total,
        // http_server_request_duration_seconds per route template, method and status; global factory).
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(AllowedOriginsCORSMiddleware(origins: service.configuration.corsOrigins))
        // Outside the error middleware: it sees every answer's final status and request id.
        if service.configuration.accessLog { router.middlewares.add(AccessLogMiddleware(logger: service.logger)) }
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        IngestRoutes.add(to: router, service: service)
        OperationalRoutes.add(to: router, metrics: metrics) {
            service.metrics.queueDepth.record(service.publisher.producers.producer.queueLength)
        } readiness: {
            readiness?.checks() ?? []
        }
        return router
    }
}
