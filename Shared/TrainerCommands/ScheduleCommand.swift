import ArgumentParser
import ClientRuntime
import ServiceConfiguration
import ServiceLifecycle
import ServiceSupport
import Training

/// `trainer schedule`: trains the domains periodically until SIGTERM or SIGINT; a failing run is logged
/// and retried after `--retry`, doubling per failure up to 10 minutes.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Train periodically; a failing run is logged and retried after --retry, doubling per failure up to 10 min."
    )

    @Option(help: "The interval between runs, e.g. 24h.")
    var every: String

    @Option(help: "Comma-separated domains.")
    var domain = "movies,polls"

    @Option(help: "The first retry's delay after a failed run.")
    var retry = "30s"

    func validate() throws {
        guard ConfigReader.parseDuration(every) != nil else { throw ValidationError("--every DURATION (e.g. 24h)") }
        guard ConfigReader.parseDuration(retry) != nil else { throw ValidationError("--retry DURATION (e.g. 30s)") }
    }

    func run() async throws {
        guard let interval = ConfigReader.parseDuration(every), let retry = ConfigReader.parseDuration(retry) else { throw ExitCode.validationFailure }
        let domains = domain.split(separator: ",").map(String.init)
        try await TrainerSession.run { session in
            let schedule = TrainingSchedule(
                run: session.run, domains: domains, interval: interval, retry: Backoff(initial: retry, maximum: max(retry, .seconds(600))),
                codeRevision: TrainerSession.codeRevision(), logger: session.logger
            )
            // SIGTERM ends the wait between runs at once; a run in progress gets `service.shutdown_timeout`.
            try await ServiceGroup(configuration: ServiceBootstrap.groupConfiguration(services: [schedule], settings: session.settings, logger: session.logger)).run()
        }
    }
}
