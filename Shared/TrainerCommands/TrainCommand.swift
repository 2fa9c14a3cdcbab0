import ArgumentParser
import Foundation
import Training

/// `trainer train`: one training run of a domain: train, evaluate, register, promote if not worse than
/// production.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train, evaluate, register, promote if not worse than production."
    )

    @Option(help: "movies or polls.")
    var domain: String

    @Flag(help: "Promote even if worse than production.")
    var force = false

    func run() async throws {
        try await TrainerSession.run { session in
            print(Self.describe(try await session.run.train(domain: domain, force: force, codeRevision: TrainerSession.codeRevision())))
        }
    }

    /// The line a run prints: the decision, the offline metrics and where the report is.
    static func describe(_ summary: TrainingSummary) -> String {
        let metrics = summary.manifest.metrics.filter { !["users", "items", "test_users"].contains($0.key) }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\(String(format: "%.4f", $0.value))" }.joined(separator: " ")
        switch summary.decision {
        case .promoted(let replacing):
            return "promoted \(summary.manifest.version)\(replacing.map { " (replacing \($0))" } ?? ""): \(metrics); report \(summary.reportPath)"
        case .rejected(let reason):
            return "kept production; \(summary.manifest.version) registered as candidate: \(reason); report \(summary.reportPath)"
        }
    }
}
