import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Starts swift-otel's tracer when `tracing.enabled`, and says which tracer the services instrument with.
/// While tracing is off nothing is bootstrapped: swift-distributed-tracing's global instrument stays its
/// no-op, the services get `nil` for a tracer and skip span work altogether (docs/reliability.md, Tracing).
public enum TracingBootstrap {
    /// Bootstraps the global instrument with an OTLP/HTTP exporting tracer and returns the service that
    /// batches and exports its spans (to run in the service group; its shutdown flushes them). Nil while
    /// tracing is off. Once per process.
    public static func start(_ settings: TracingSettings, logger: Logger) throws -> (any Service)? {
        guard settings.enabled else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.propagators = [.traceContext]
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.endpoint = settings.otlpEndpoint
        configuration.traces.sampler = .parentBasedTraceIDRatio(ratio: settings.samplingRatio) ?? .parentBasedAlwaysOn
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info("tracing on", metadata: ["otlp_endpoint": "\(settings.otlpEndpoint)", "sampling_ratio": "\(settings.samplingRatio)"])
        return backend.service
    }

    /// The tracer to instrument with: the global one while tracing is on, nil while it is off (the
    /// services then skip span work and header injection).
    public static func tracer(_ settings: TracingSettings) -> (any Tracer)? {
        settings.enabled ? InstrumentationSystem.tracer : nil
    }

    /// trace_id, span_id and trace_flags of the span in `ServiceContext.current`, for every log line
    /// (installed with the log handler while tracing is on).
    public static let logMetadataProvider: Logger.MetadataProvider = OTel.makeLoggingMetadataProvider()
}
