import ArgumentParser
import Events
import Experiments
import ModelRegistry

/// `trainer experiment start|stop|status`: online experiments in PostgreSQL (docs/experiments.md). The API
/// instances pick a change up within `inference.experiment_refresh`.
struct ExperimentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment", abstract: "Start, stop or show online experiments.",
        subcommands: [Start.self, Stop.self, Status.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "start", abstract: "Start an experiment (one runs per domain at most).")

        @Argument(help: "The experiment's id: 1–64 letters, digits, '.', '_', '-' (never reused).")
        var id: String

        @Option(help: "movies or polls.")
        var domain: String

        @Option(help: "What the control serves: production, popular or model:<registered version>.")
        var control = "production"

        @Option(help: "What the challenger serves: production, popular or model:<registered version>.")
        var challenger: String

        @Option(help: "The challenger's share of users, between 0 and 1.")
        var share = 0.5

        func validate() throws {
            guard EventDomain(name: domain) != nil else { throw ValidationError("--domain is movies or polls") }
            guard let control = ExperimentArm(control) else { throw ValidationError("--control is production, popular or model:<version>") }
            guard let challenger = ExperimentArm(challenger) else { throw ValidationError("--challenger is production, popular or model:<version>") }
            if let problem = Experiment.problem(id: id, control: control, challenger: challenger, challengerShare: share) { throw ValidationError(problem) }
        }

        func run() async throws {
            try await TrainerSession.run { session in
                do {
                    let experiment = try await ExperimentStore(postgres: session.postgres).start(
                        id: id, domain: EventDomain(name: domain)!, control: ExperimentArm(control)!, challenger: ExperimentArm(challenger)!, challengerShare: share
                    )
                    print(ExperimentCommand.line(experiment))
                } catch let error as ExperimentStore.StoreError {
                    throw TrainerSession.fail(error.description, status: 65)
                }
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a running experiment (its figures stay).")

        @Argument(help: "The experiment's id.")
        var id: String

        func run() async throws {
            try await TrainerSession.run { session in
                do {
                    print(ExperimentCommand.line(try await ExperimentStore(postgres: session.postgres).stop(id)))
                } catch let error as ExperimentStore.StoreError {
                    throw TrainerSession.fail(error.description, status: 65)
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "List experiments, newest first (or one).")

        @Argument(help: "One experiment's id (default: all).")
        var id: String?

        func run() async throws {
            try await TrainerSession.run { session in
                let store = ExperimentStore(postgres: session.postgres)
                if let id {
                    guard let experiment = try await store.experiment(id) else { throw TrainerSession.fail("no experiment \(id)", status: 65) }
                    print(ExperimentCommand.line(experiment))
                } else {
                    for experiment in try await store.all() { print(ExperimentCommand.line(experiment)) }
                }
            }
        }
    }

    /// One line per experiment: id, domain, arms, share, state.
    static func line(_ experiment: Experiment) -> String {
        let state = experiment.stoppedAt.map { "stopped \($0)" } ?? "running since \(experiment.startedAt)"
        return "\(experiment.id)  \(experiment.domain.name)  control=\(experiment.control)  challenger=\(experiment.challenger)  share=\(experiment.challengerShare)  \(state)"
    }
}
