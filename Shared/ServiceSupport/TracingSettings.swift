import ServiceConfiguration

/// Distributed tracing (docs/reliability.md, Tracing): off by default. Read by
/// ``ServiceBootstrap/load(service:keys:_:)`` for the services whose keys include ``Keys/all`` (the
/// gateway, the processor and the API); ``ServiceBootstrap/run(logger:settings:start:services:shutdown:)``
/// starts the exporter when it is on.
public struct TracingSettings: Sendable, Hashable {
    public enum Keys {
        public static let enabled = ConfigKey(
            "tracing.enabled", default: "false",
            "Record spans (W3C traceparent in, OTLP/HTTP out to tracing.otlp_endpoint) and put trace_id/span_id into log lines; off: no spans (the gateway still forwards a valid incoming traceparent into its events' Kafka headers)"
        )
        public static let otlpEndpoint = ConfigKey(
            "tracing.otlp_endpoint", default: "http://127.0.0.1:4318/v1/traces",
            "The collector's OTLP/HTTP (protobuf) traces URL, used as given (http or https)"
        )
        public static let samplingRatio = ConfigKey(
            "tracing.sampling_ratio", default: "1.0",
            "Share of new traces recorded, 0.0 to 1.0; a request that carries a traceparent follows its caller's sampled flag"
        )
        public static let all: [ConfigKey] = [enabled, otlpEndpoint, samplingRatio]
    }

    public var enabled: Bool
    public var otlpEndpoint: String
    public var samplingRatio: Double
    /// The OTLP resource's `service.name`: the executable's name.
    public var serviceName: String

    public init(enabled: Bool = false, otlpEndpoint: String = "http://127.0.0.1:4318/v1/traces", samplingRatio: Double = 1.0, serviceName: String = "streamrec") {
        self.enabled = enabled
        self.otlpEndpoint = otlpEndpoint
        self.samplingRatio = samplingRatio
        self.serviceName = serviceName
    }

    public init(reading reader: ConfigReader, serviceName: String) throws(ConfigurationError) {
        enabled = try reader.bool(Keys.enabled)
        otlpEndpoint = try reader.string(Keys.otlpEndpoint)
        guard otlpEndpoint.hasPrefix("http://") || otlpEndpoint.hasPrefix("https://") else {
            throw ConfigurationError(key: Keys.otlpEndpoint.name, message: "expected an http:// or https:// URL, got \"\(otlpEndpoint)\"")
        }
        samplingRatio = try reader.double(Keys.samplingRatio)
        guard (0.0...1.0).contains(samplingRatio) else {
            throw ConfigurationError(key: Keys.samplingRatio.name, message: "must be in 0.0...1.0, got \(samplingRatio)")
        }
        self.serviceName = serviceName
    }
}
