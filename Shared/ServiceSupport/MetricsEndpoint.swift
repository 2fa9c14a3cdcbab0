import Events
import Hummingbird
import Metrics
import Prometheus
import Synchronization

/// The process's Prometheus registry and the swift-metrics factory over it. Services create their
/// metrics through `factory`, so tests can use a private registry without the global bootstrap.
public struct ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// - Parameter durationBuckets: histogram buckets for particular timers (by label), where the
    ///   default ones are too coarse.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), durationBuckets: [String: [Duration]] = [:]) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Latency buckets from 0.5 ms to 10 s: the interesting range for ingest and serving.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        factory.durationHistogramBuckets = durationBuckets
        self.factory = factory
    }

    /// Makes this registry the process-wide swift-metrics backend (once, in `main`).
    public func bootstrapGlobally() {
        MetricsSystem.bootstrap(factory)
    }

    /// Prometheus text exposition of everything registered.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// `/healthz` (the process answers), `/readyz` (its dependencies are usable; 503 otherwise, with the
/// failing checks) and `/metrics` (Prometheus).
public enum OperationalRoutes {
    /// - Parameter beforeScrape: refreshes gauges that are sampled rather than updated as things happen
    ///   (queue depths), right before each `/metrics` exposition.
    /// - Parameter degradable: checks whose failure leaves the service answering, with less: `/readyz`
    ///   then says `degraded` with 200 (keep sending traffic); any other failing check is 503.
    public static func add<Context: RequestContext>(
        to router: Router<Context>, metrics: ServiceMetrics,
        beforeScrape: @escaping @Sendable () -> Void = {},
        degradable: Set<String> = [],
        readiness: @escaping @Sendable () async -> [(String, String?)]
    ) {
        router.get("/healthz") { _, _ in
            JSONResponse.make(.ok, .object([("status", .string("ok"))]))
        }
        router.get("/readyz") { _, _ in
            let checks = await readiness()
            let failing = checks.filter { $0.1 != nil }.map(\.0)
            let ready = failing.allSatisfy { degradable.contains($0) }
            let body: JSONValue = .object([
                ("status", .string(!ready ? "not_ready" : failing.isEmpty ? "ready" : "degraded")),
                ("checks", .object(checks.map { ($0.0, .string($0.1 ?? "ok")) })),
            ])
            return JSONResponse.make(ready ? .ok : .serviceUnavailable, body)
        }
        router.get("/metrics") { _, _ in
            beforeScrape()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
            )
        }
    }
}

/// Metrics by label and dimensions, made once (the factory takes a registry lock per creation, too
/// much for every request or record).
public final class MetricCache: Sendable {
    private let made = Mutex<[String: any Sendable]>([:])

    public init() {}

    public func counter(_ label: String, _ dimensions: [(String, String)], factory: any MetricsFactory) -> Metrics.Counter {
        cached(label, dimensions) { Metrics.Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    public func gauge(_ label: String, _ dimensions: [(String, String)], factory: any MetricsFactory) -> Metrics.Gauge {
        cached(label, dimensions) { Metrics.Gauge(label: label, dimensions: dimensions, factory: factory) }
    }

    public func timer(_ label: String, _ dimensions: [(String, String)], factory: any MetricsFactory) -> Metrics.Timer {
        cached(label, dimensions) { Metrics.Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    private func cached<Metric: Sendable>(_ label: String, _ dimensions: [(String, String)], make: () -> Metric) -> Metric {
        let key = "\(Metric.self)|" + label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return made.withLock { made in
            if let metric = made[key] as? Metric { return metric }
            let metric = make()
            made[key] = metric
            return metric
        }
    }
}
