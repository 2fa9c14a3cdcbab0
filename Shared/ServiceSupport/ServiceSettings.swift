import Logging
import ServiceConfiguration

/// The settings every StreamRec executable reads besides its own configuration: how it logs and how long
/// its graceful shutdown may take. Read by ``ServiceBootstrap/load(service:keys:_:)``.
public struct ServiceSettings: Sendable {
    public enum Keys {
        public static let logLevel = ConfigKey("log.level", default: "info", "trace, debug, info, notice, warning, error or critical")
        /// Kubernetes sends SIGKILL 30 s after SIGTERM by default (20 s for the inference API in deploy/):
        /// 15 s leaves time for the services to flush and for cancellation to run after it.
        public static let shutdownTimeout = ConfigKey(
            "service.shutdown_timeout", default: "15s",
            "Longest graceful shutdown (SIGTERM/SIGINT); past it the remaining work is cancelled and the process exits 1"
        )
        public static let logFormat = ConfigKey(
            "log.format", default: "text", "text (human-readable lines) or json (one object per line: timestamp, level, label, message and every metadata key)"
        )
        public static let all: [ConfigKey] = [logLevel, logFormat, shutdownTimeout]
    }

    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    public var shutdownTimeout: Duration
    /// `tracing.*`, read only for the services that declare ``TracingSettings/Keys/all`` (off otherwise).
    public var tracing: TracingSettings

    public init(logLevel: Logger.Level = .info, logFormat: LogFormat = .text, shutdownTimeout: Duration = .seconds(15), tracing: TracingSettings = TracingSettings()) {
        self.logLevel = logLevel
        self.logFormat = logFormat
        self.shutdownTimeout = shutdownTimeout
        self.tracing = tracing
    }

    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        let text = try reader.string(Keys.logLevel)
        guard let level = Logger.Level(rawValue: text) else {
            throw ConfigurationError(key: Keys.logLevel.name, message: "unknown log level \"\(text)\"")
        }
        logLevel = level
        let format = try reader.string(Keys.logFormat)
        guard let logFormat = LogFormat(rawValue: format) else {
            throw ConfigurationError(key: Keys.logFormat.name, message: "expected text or json, got \"\(format)\"")
        }
        self.logFormat = logFormat
        shutdownTimeout = try reader.duration(Keys.shutdownTimeout)
        guard shutdownTimeout > .zero else {
            throw ConfigurationError(key: Keys.shutdownTimeout.name, message: "must be longer than zero")
        }
        tracing = TracingSettings()
    }
}
