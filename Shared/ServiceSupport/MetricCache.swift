import Metrics
import Synchronization

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

    /// Removes a gauge from the exposition (its series disappears instead of staying frozen) and from this
    /// cache, so asking for it again makes a fresh one.
    public func destroyGauge(_ label: String, _ dimensions: [(String, String)]) {
        let key = Self.key(Metrics.Gauge.self, label, dimensions)
        (made.withLock { $0.removeValue(forKey: key) } as? Metrics.Gauge)?.destroy()
    }

    private static func key<Metric>(_ type: Metric.Type, _ label: String, _ dimensions: [(String, String)]) -> String {
        "\(Metric.self)|" + label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
    }

    private func cached<Metric: Sendable>(_ label: String, _ dimensions: [(String, String)], make: () -> Metric) -> Metric {
        let key = Self.key(Metric.self, label, dimensions)
        return made.withLock { made in
            if let metric = made[key] as? Metric { return metric }
            let metric = make()
            made[key] = metric
            return metric
        }
    }
}
