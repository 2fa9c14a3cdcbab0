import ArgumentParser
import Foundation
import Recommender

/// `trainer evaluate`: the external-scoring contract, without PostgreSQL. Input TSV
/// `user<TAB>item<TAB>rating<TAB>timestamp` (a header line allowed); prints the report, writes the
/// predicted ratings and top-N lists if asked; an unreadable or malformed file exits 65.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Score external splits (see README).")

    @Option(help: "The training split (TSV).")
    var train: String

    @Option(help: "The test split (TSV).")
    var test: String

    @Option(name: .customLong("ratings-out"), help: "Write the predicted ratings of the test pairs here.")
    var ratingsOut: String?

    @Option(name: .customLong("topn-out"), help: "Write each test user's top-k here.")
    var topNOut: String?

    @Option(help: "The list length, 1…1000.")
    var k = 10

    @Option(help: "random, or latest when the test file holds each user's latest ratings (a temporal split).")
    var validation = "random"

    func validate() throws {
        guard (1...1000).contains(k) else { throw ValidationError("--k must be 1…1000, got \(k)") }
        guard holdout != nil else { throw ValidationError("--validation must be random or latest, got \(validation)") }
    }

    /// How model selection holds validation out of the training split, matching how the test split was cut.
    var holdout: ValidationSplit.Holdout? {
        switch validation {
        case "random": .random(seed: 42)
        case "latest": .latest
        default: nil
        }
    }

    func run() async throws {
        guard let holdout else { throw ExitCode.validationFailure }
        do {
            let train = try String(contentsOfFile: train, encoding: .utf8)
            let test = try String(contentsOfFile: test, encoding: .utf8)
            let output = try ExternalEvaluation(k: k, validation: holdout).run(train: train, test: test)
            if let path = ratingsOut { try output.ratings.write(toFile: path, atomically: true, encoding: .utf8) }
            if let path = topNOut { try output.topN.write(toFile: path, atomically: true, encoding: .utf8) }
            print(output.report, terminator: "")
        } catch {
            throw TrainerSession.fail("trainer evaluate: \(error)", status: 65)
        }
    }
}
