/// What `/metrics` answers with: the process's metrics in Prometheus text exposition format. A protocol,
/// so that the HTTP layer needs no metrics backend (ServiceSupport's `ServiceMetrics` is the one in use).
public protocol MetricsExposition: Sendable {
    func exposition() -> [UInt8]
}
