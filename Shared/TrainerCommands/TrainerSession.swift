import ArgumentParser
import ClientRuntime
import Datasets
import Foundation
import Kafka
import Logging
import ModelStore
import Postgres
import ServiceConfiguration
import ServiceSupport
import Training

/// What every trainer command but `evaluate` shares: the configuration (environment > configs/trainer.conf
/// > defaults; a bad key exits 78), logging, PostgreSQL with the migrations applied, the training run and
/// the announcer. ``run(_:)`` maps failures to the trainer's exit codes and closes PostgreSQL either way.
struct TrainerSession {
    let configuration: TrainerConfiguration
    /// Logging and the shutdown timeout (`trainer schedule`'s service group).
    let settings: ServiceSettings
    let logger: Logger
    let postgres: PostgresClient
    let run: TrainingRun
    /// The migrations this session applied (empty when the schema was current).
    let appliedMigrations: [Int]

    /// Runs `body` in a session. `ExitCode` thrown by `body` becomes the exit status; data and registry
    /// errors exit 65 (EX_DATAERR: the data or the registry state, not the machine), PostgreSQL and Kafka
    /// errors 69 (EX_UNAVAILABLE), anything else 1.
    static func run(_ body: (TrainerSession) async throws -> Void) async throws {
        let (settings, configuration) = ServiceBootstrap.load(service: TrainerCommand.service, keys: TrainerCommand.configurationKeys) {
            reader throws(ConfigurationError) in try TrainerConfiguration(reading: reader)
        }
        let logger = Logger(label: "streamrec.trainer")
        let postgres = PostgresClient(configuration: configuration.postgres, logger: logger)
        var status: Int32 = 0
        do {
            // The trainer always applies: it is the service that owns the schema (SchemaMigrations).
            let applied = try await SchemaMigrations(directory: configuration.migrationsDirectory, apply: true).prepare(postgres, logger: logger)
            let run = TrainingRun(configuration: configuration, postgres: postgres, logger: logger, announce: announcer(configuration: configuration, logger: logger))
            try await body(TrainerSession(configuration: configuration, settings: settings, logger: logger, postgres: postgres, run: run, appliedMigrations: applied))
        } catch let exit as ExitCode {
            status = exit.rawValue
        } catch where error is TrainingError || error is RegistryError || error is DatasetFileError {
            logger.error("refused: data or registry state", metadata: ["error": "\(error)"])
            status = 65
        } catch let error as PostgresError {
            logger.error("PostgreSQL failed", metadata: ["error": "\(error)"])
            status = 69
        } catch let error as KafkaError {
            logger.error("Kafka failed", metadata: ["error": "\(error)"])
            status = 69
        } catch {
            logger.error("failed", metadata: ["error": "\(error)"])
            status = 1
        }
        await postgres.shutdown()
        if status != 0 { throw ExitCode(status) }
    }

    /// Announces a promotion on the model-updated topic, waiting for the broker's ack.
    static func announcer(configuration: TrainerConfiguration, logger: Logger) -> @Sendable (ModelManifest, String) async throws -> Void {
        let announcer = ModelUpdateAnnouncer(producer: configuration.producer, topic: configuration.modelUpdatedTopic, logger: logger)
        return { manifest, path in try await announcer.announce(manifest, path: path) }
    }

    /// This session's announcer (a promotion or rollback made outside a training run).
    func announce(_ manifest: ModelManifest, path: String) async throws {
        try await Self.announcer(configuration: configuration, logger: logger)(manifest, path)
    }

    /// The source revision for manifests: STREAMREC_CODE_REVISION, else the checkout's HEAD, else the
    /// revision stamped into the binary (`BuildInfo.revision`, "unknown" when none was).
    static func codeRevision() -> String {
        if let revision = ProcessInfo.processInfo.environment["STREAMREC_CODE_REVISION"], !revision.isEmpty { return revision }
        guard let head = try? String(contentsOfFile: ".git/HEAD", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else { return BuildInfo.revision }
        guard head.hasPrefix("ref: ") else { return head }
        return (try? String(contentsOfFile: ".git/" + head.dropFirst(5), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? BuildInfo.revision
    }

    /// A one-line refusal on standard error, then the exit status (the messages the trainer always printed).
    static func fail(_ message: String, status: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        return ExitCode(status)
    }
}
