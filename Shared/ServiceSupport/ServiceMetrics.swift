import HTTPSupport
import Metrics
import Prometheus

/// The process's Prometheus registry and the swift-metrics factory over it. Services create their
/// metrics through `factory`, so tests can use a private registry without the global bootstrap.
public struct ServiceMetrics: MetricsExposition, Sendable {
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
        // Which build answers: a constant 1, its labels are the information.
        Gauge(label: "streamrec_build_info", dimensions: [("version", BuildInfo.version), ("revision", BuildInfo.revision)], factory: factory).record(1)
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
