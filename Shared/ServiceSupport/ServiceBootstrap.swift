import Foundation
import Logging
import ServiceConfiguration
import ServiceLifecycle

/// Start-up steps every StreamRec executable shares: configuration, logging, and a clear exit on a
/// configuration error.
public enum ServiceBootstrap {
    public static let logLevel = ServiceSettings.Keys.logLevel
    /// The keys every executable reads besides its own (``ServiceSettings``).
    public static let commonKeys = ServiceSettings.Keys.all

    /// Bootstraps swift-log once per process, at the configured level, to standard error. While tracing
    /// is on, every line carries the current span's trace_id and span_id (``TracingBootstrap/logMetadataProvider``).
    public static func bootstrapLogging(_ settings: ServiceSettings) {
        let provider = settings.tracing.enabled ? TracingBootstrap.logMetadataProvider : nil
        switch settings.logFormat {
        case .text:
            LoggingSystem.bootstrap({ label, provider in
                var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                handler.logLevel = settings.logLevel
                return handler
            }, metadataProvider: provider)
        case .json:
            LoggingSystem.bootstrap({ label, provider in
                var handler = JSONLogHandler(label: label, metadataProvider: provider)
                handler.logLevel = settings.logLevel
                return handler
            }, metadataProvider: provider)
        }
    }

    /// Bootstraps swift-log once per process, at the given level, as text to standard error.
    public static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    public static func parseLevel(_ reader: ConfigReader) throws(ConfigurationError) -> Logger.Level {
        try ServiceSettings(reading: reader).logLevel
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

    /// Answers the command line of a service, which takes no arguments besides informational ones:
    /// `--help` (usage), `--version`, `--help-config` (the key table) and `--config-template` (the
    /// commented file) print and exit 0 without starting anything; anything else exits 64 (EX_USAGE) with
    /// a message, so a misspelt flag is not mistaken for a running service. Returns only for an empty
    /// command line: the service's configuration comes from the environment and `configs/<service>.conf`.
    public static func answerCommandLine(
        service: String, summary: String, keys: [ConfigKey], arguments: [String] = CommandLine.arguments
    ) {
        let given = Array(arguments.dropFirst())
        guard let first = given.first else { return }
        guard given.count == 1 else { refuse(service: service, "unexpected arguments \(given.joined(separator: " "))") }
        switch first {
        case "--help", "-h":
            print(usage(service: service, summary: summary))
        case "--version":
            print(BuildInfo.version)
        case "--config-template":
            print(configurationTemplate(service: service, summary: summary, keys: keys))
        case "--help-config":
            print(keyTable(service: service, keys: keys))
        default:
            refuse(service: service, "unknown argument \(first)")
        }
        Foundation.exit(0)
    }

    /// What `<service> --help` prints.
    public static func usage(service: String, summary: String) -> String {
        """
        \(summary)

        usage: \(service)                     start the service (until SIGTERM or SIGINT)
               \(service) --help-config       every configuration key, its environment variable and default
               \(service) --config-template   the commented configs/\(service).conf
               \(service) --version           print the version (\(BuildInfo.version))
               \(service) --help              this text

        The service takes no other arguments. Configuration: environment variables (STREAMREC_...) win over
        configs/\(service).conf (STREAMREC_CONFIG_DIR chooses the directory), which wins over the documented
        defaults; a secret can be read from a file (KEY_file = /path, or STREAMREC_..._FILE).
        """
    }

    /// The key table `--help-config` prints.
    public static func keyTable(service: String, keys: [ConfigKey]) -> String {
        "Configuration of \(service) (configs/\(service).conf; environment variables win):\n\n" + documentation(of: keys)
    }

    private static func refuse(service: String, _ message: String) -> Never {
        FileHandle.standardError.write(Data("\(service): \(message)\nRun `\(service) --help` for usage.\n".utf8))
        Foundation.exit(64)
    }

    /// The commented `configs/<service>.conf` that documents every key (`<service> --config-template`).
    public static func configurationTemplate(service: String, summary: String, keys: [ConfigKey]) -> String {
        var lines = [
            "# \(summary)",
            "#",
            "# Every key the service reads, with its default. Uncomment to change a value here; an environment",
            "# variable (shown after each key) wins over this file. Secrets: set KEY_file = /path (or",
            "# STREAMREC_..._FILE) instead of the value. Generated by `\(service) --config-template`.",
            "",
        ]
        for key in keys {
            lines.append("# \(key.summary) (\(key.environmentVariable))")
            lines.append("# \(key.name) =" + (key.defaultValue.map { $0.isEmpty ? "" : " \($0)" } ?? ""))
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    /// Reads the service's configuration (environment > `configs/<service>.conf` > defaults), starts
    /// logging at `log.level` in `log.format` and builds the typed configuration; a bad or unknown key exits with 78,
    /// naming it. What every service's `main` does first.
    public static func loadConfiguration<Configuration>(
        service: String, keys: [ConfigKey], _ make: (ConfigReader) throws(ConfigurationError) -> Configuration
    ) -> Configuration {
        load(service: service, keys: keys, make).configuration
    }

    /// ``loadConfiguration(service:keys:_:)`` that also answers the ``ServiceSettings`` (`keys` must
    /// hold ``commonKeys``): the shutdown timeout ``run(logger:settings:start:services:shutdown:)`` applies.
    public static func load<Configuration>(
        service: String, keys: [ConfigKey], _ make: (ConfigReader) throws(ConfigurationError) -> Configuration
    ) -> (settings: ServiceSettings, configuration: Configuration) {
        do {
            let reader = try ConfigReader.load(service: service, keys: keys)
            var settings = try ServiceSettings(reading: reader)
            if keys.contains(where: { $0.name == TracingSettings.Keys.enabled.name }) {
                settings.tracing = try TracingSettings(reading: reader, serviceName: service)
            }
            bootstrapLogging(settings)
            return (settings, try make(reader))
        } catch {
            exit(dueTo: error)
        }
    }

    /// Prints a configuration error the way an operator needs it and exits with status 78 (EX_CONFIG).
    public static func exit(dueTo error: ConfigurationError) -> Never {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        Foundation.exit(78)
    }

    /// What every service main does after its configuration: start the application (a dependency
    /// unreachable at start exits 69, EX_UNAVAILABLE, so the supervisor restarts it), run its services
    /// until SIGTERM or SIGINT (an error exits 1), then close the clients the services do not own. A
    /// graceful shutdown longer than `settings.shutdownTimeout` is escalated to cancellation and exits 1.
    public static func run<Application>(
        logger: Logger, settings: ServiceSettings = ServiceSettings(), start: () async throws -> Application, services: (Application) throws -> [any Service],
        shutdown: (Application) async -> Void
    ) async {
        // Before the application starts, so that its services find the tracer bootstrapped; first in the
        // group, so that it stops last and flushes the spans of everything else's shutdown.
        let tracing: (any Service)?
        do {
            tracing = try TracingBootstrap.start(settings.tracing, logger: logger)
        } catch {
            logger.critical("cannot start tracing", metadata: ["error": "\(error)"])
            Foundation.exit(78)
        }
        let application: Application
        do {
            application = try await start()
        } catch {
            logger.critical("cannot start: a dependency is unreachable", metadata: ["error": "\(error)"])
            Foundation.exit(69)
        }
        do {
            let group = ServiceGroup(configuration: groupConfiguration(services: (tracing.map { [$0] } ?? []) + (try services(application)), settings: settings, logger: logger))
            try await group.run()
        } catch {
            logger.error("stopped with an error", metadata: ["error": "\(error)"])
            await shutdown(application)
            Foundation.exit(1)
        }
        await shutdown(application)
    }

    /// A service group stopped gracefully by SIGTERM or SIGINT, cancelled after `settings.shutdownTimeout`.
    public static func groupConfiguration(services: [any Service], settings: ServiceSettings, logger: Logger) -> ServiceGroupConfiguration {
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.shutdownTimeout
        return configuration
    }
}
