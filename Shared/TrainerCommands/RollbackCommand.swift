import ArgumentParser

/// `trainer rollback`: restores the production model's predecessor and announces it.
struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Restore the production model's predecessor.")

    @Option(help: "movies or polls.")
    var domain: String

    func run() async throws {
        try await TrainerSession.run { session in
            let restored = try await session.run.registry.rollback(domain: domain)
            try await session.announce(try session.run.artifacts.read(path: restored.path).manifest, path: restored.path)
            print("rolled back \(domain) to \(restored.version)")
        }
    }
}
