import Foundation
import Logging

/// Start-up steps every StreamRec executable shares: configuration, logging, and a clear exit on a
/// configuration error.
public enum ServiceBootstrap {
    public static let logLevel = ConfigKey("log.level", default: "info", "trace, debug, info, notice, warning, error or critical")

    /// Bootstraps swift-log once per process, at the configured level, to standard error.
    public static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    public static func parseLevel(_ reader: ConfigReader) throws(ConfigurationError) -> Logger.Level {
        let text = try reader.string(logLevel)
        guard let level = Logger.Level(rawValue: text) else {
            throw ConfigurationError(key: logLevel.name, message: "unknown log level \"\(text)\"")
        }
        return level
    }

    /// Markdown table of keys, their environment variables and defaults (README and `--help-config`).
    public static func documentation(of keys: [ConfigKey]) -> String {
        var lines = ["| key | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
        for key in keys {
            let defaultText = key.defaultValue.map { $0.isEmpty ? "(empty)" : "`\($0)`" } ?? "(unset)"
            lines.append("| `\(key.name)` | `\(key.environmentVariable)` | \(defaultText) | \(key.summary) |")
        }
        return lines.joined(separator: "\n")
    }

    /// Prints a configuration error the way an operator needs it and exits with status 78 (EX_CONFIG).
    public static func exit(dueTo error: ConfigurationError) -> Never {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        Foundation.exit(78)
    }
}
