import ArgumentParser

/// `trainer promote`: promotes a registered candidate through the gate (or past it with `--force`) and
/// announces it.
struct PromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "promote", abstract: "Promote a registered candidate.")

    // Its own `--version` (the model version) wins over the root's `--version` flag inside this command.
    @Option(help: "The registered version to promote.")
    var version: String

    @Flag(help: "Promote even if the promotion gate refuses it.")
    var force = false

    func run() async throws {
        try await TrainerSession.run { session in
            let configuration = session.configuration
            let decision = try await session.run.registry.promote(
                version, metric: configuration.promotionMetric, tolerance: configuration.promotionTolerance, force: force
            )
            if case .promoted = decision, let entry = try await session.run.registry.entry(version) {
                let artifact = try session.run.artifacts.read(path: entry.path)
                try await session.announce(artifact.manifest, path: entry.path)
            }
            print("\(version): \(decision)")
            // A promotion the gate refused is not a success for a script (`trainer promote … && deploy`).
            if case .rejected = decision { throw ExitCode(1) }
        }
    }
}
