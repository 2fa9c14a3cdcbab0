import ArgumentParser
import ServiceConfiguration
import ServiceSupport
import Training

/// `trainer`: the root of the trainer's command line. Without a command it runs `check`; besides the
/// commands it answers the informational flags every service has (`--help-config`, `--config-template`,
/// `--version`, `--help`). Failures keep the trainer's exit codes: 64 a bad command line, 65 the data or
/// the registry state, 66 an unreadable input file, 69 PostgreSQL or Kafka unreachable, 78 a bad
/// configuration, 1 anything else (and a promotion the gate refused).
public struct TrainerCommand: AsyncParsableCommand {
    public static let service = "trainer"
    public static let summary = "The trainer: PostgreSQL training store → models, artifacts, registry."
    /// Every configuration key the trainer reads (`--help-config`, `--config-template`, the configuration).
    public static var configurationKeys: [ConfigKey] { ServiceBootstrap.commonKeys + TrainerConfiguration.Keys.all }

    public static let configuration = CommandConfiguration(
        commandName: service,
        abstract: summary,
        discussion: """
            Without a command: check. Configuration: environment variables (STREAMREC_...) win over \
            configs/trainer.conf (STREAMREC_CONFIG_DIR chooses the directory), which wins over the documented \
            defaults (--help-config lists them, --config-template writes the commented file).
            """,
        version: BuildInfo.version,
        subcommands: [
            CheckCommand.self, BootstrapCommand.self, TrainCommand.self, PromoteCommand.self, RollbackCommand.self, ListCommand.self,
            ScheduleCommand.self, EvaluateCommand.self, RedriveDeadLettersCommand.self, BackfillFeaturesCommand.self,
            ExperimentCommand.self,
        ]
    )

    @Flag(name: .customLong("help-config"), help: "Print every configuration key, its environment variable and default.")
    var helpConfig = false

    @Flag(name: .customLong("config-template"), help: "Print the commented configs/trainer.conf.")
    var configTemplate = false

    public init() {}

    /// The informational flags win wherever they stand (`trainer list --help-config` too, as before): they
    /// end the parse with a clean exit that prints the text, before any command runs.
    public func validate() throws {
        if configTemplate {
            throw CleanExit.message(ServiceBootstrap.configurationTemplate(service: Self.service, summary: Self.summary, keys: Self.configurationKeys))
        }
        if helpConfig {
            throw CleanExit.message(ServiceBootstrap.keyTable(service: Self.service, keys: Self.configurationKeys))
        }
    }

    public func run() async throws {
        try await CheckCommand().run()
    }
}
