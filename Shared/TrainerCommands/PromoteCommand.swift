import ArgumentParser
import Events
import Experiments
import Foundation
import ModelRegistry
import Outcomes
import Redis

/// `trainer promote`: promotes a registered candidate through the gate (or past it with `--force`) and
/// announces it; or, with `--online EXPERIMENT`, promotes the experiment's challenger only if its online
/// figures beat the control's (docs/experiments.md, Promotion on online evidence).
struct PromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "promote", abstract: "Promote a registered candidate, or an experiment's winning challenger.")

    // Its own `--version` (the model version) wins over the root's `--version` flag inside this command.
    @Option(help: "The registered version to promote.")
    var version: String?

    @Flag(help: "Promote even if the promotion gate refuses it.")
    var force = false

    @Option(help: "Promote this experiment's challenger (a model:<version> arm) only if its positive rate beats the control's online.")
    var online: String?

    @Option(help: "With --online: the one-sided significance level the challenger must reach.")
    var alpha = 0.05

    func validate() throws {
        guard (version == nil) != (online == nil) else { throw ValidationError("give either --version or --online EXPERIMENT") }
        if online != nil, force { throw ValidationError("--force does not apply to --online: online evidence is the gate") }
        guard alpha > 0, alpha < 0.5 else { throw ValidationError("--alpha is between 0 and 0.5") }
    }

    func run() async throws {
        if let online {
            try await promoteOnline(online)
            return
        }
        guard let version else { return }
        try await TrainerSession.run { session in
            let configuration = session.configuration
            let decision = try await session.run.registry.promote(
                version, metric: configuration.promotionMetric, tolerance: configuration.promotionTolerance, force: force
            )
            if case .promoted = decision { try await Self.announce(version, in: session) }
            print("\(version): \(decision)")
            // A promotion the gate refused is not a success for a script (`trainer promote … && deploy`).
            if case .rejected = decision { throw ExitCode(1) }
        }
    }

    /// Decides on the experiment's outcome counters (the processor's, in Redis) with ``ProportionTest``; the
    /// evidence is recorded on the experiment either way, and on the model when promoted. Exit 0 when
    /// promoted (the experiment is then stopped: its challenger is production now), 1 when not.
    private func promoteOnline(_ id: String) async throws {
        try await TrainerSession.run { session in
            let store = ExperimentStore(postgres: session.postgres)
            guard let experiment = try await store.experiment(id) else { throw TrainerSession.fail("no experiment \(id)", status: 65) }
            let redis = RedisClient(configuration: session.configuration.redis, logger: session.logger)
            let figures: OutcomeFigures
            do {
                figures = try await OutcomeReader(keyPrefix: session.configuration.features.keyPrefix, redis: redis).figures(experiment)
                await redis.shutdown()
            } catch {
                await redis.shutdown()
                throw TrainerSession.fail("the outcome counters could not be read from Redis: \(error)", status: 69)
            }
            let comparison = figures.comparison(alpha: alpha)
            let control = figures.counts(.control), challenger = figures.counts(.challenger)
            let summary = "users with a positive: control \(control[.usersConverted])/\(control[.users]), challenger \(challenger[.usersConverted])/\(challenger[.users])"
                + ", p = \(comparison.test.map { String(format: "%.4g", $0.pValue) } ?? "n/a") (alpha \(alpha))"
            func evidence(_ decision: String) -> JSONValue {
                .object([
                    ("experiment_id", .string(experiment.id)), ("domain", .string(experiment.domain.name)),
                    ("control", .string(experiment.control.description)), ("challenger", .string(experiment.challenger.description)),
                    ("decided_at", .string(EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)).description)),
                    ("decision", .string(decision)), ("outcomes", figures.jsonValue(alpha: alpha)),
                ])
            }
            guard comparison.challengerWins else {
                try await store.recordDecision(id, evidence: evidence("kept_control"))
                print("\(id): not promoted: the challenger's rate of users with a positive is not significantly above the control's (\(summary))")
                throw ExitCode(1)
            }
            guard case .model(let version) = experiment.challenger else {
                try await store.recordDecision(id, evidence: evidence("challenger_wins_nothing_to_promote"))
                print("\(id): the challenger (\(experiment.challenger)) wins (\(summary)), but it is not a model version: nothing to promote")
                throw ExitCode(1)
            }
            let decision = try await session.run.registry.promote(version, metric: session.configuration.promotionMetric, tolerance: 0, force: true)
            try await session.run.registry.recordPromotionEvidence(version, evidence: evidence("promoted"))
            try await store.recordDecision(id, evidence: evidence("promoted"))
            if experiment.stoppedAt == nil { _ = try await store.stop(id) }
            try await Self.announce(version, in: session)
            var replacing = ""
            if case .promoted(let previous?) = decision { replacing = ", replacing \(previous)" }
            print("\(id): promoted \(version) on online evidence (\(summary))\(replacing)")
        }
    }

    /// Announces a version just promoted, so that every API instance loads it.
    private static func announce(_ version: String, in session: TrainerSession) async throws {
        guard let entry = try await session.run.registry.entry(version) else { return }
        let artifact = try session.run.artifacts.read(path: entry.path)
        try await session.announce(artifact.manifest, path: entry.path)
    }
}
