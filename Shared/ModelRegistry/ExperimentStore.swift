import Events
import Experiments
import Foundation
import Postgres

/// Experiments in PostgreSQL (`experiments`, migration 0004): started and stopped by the trainer or the API's
/// admin route, read by the API every refresh. At most one runs per domain (a unique index says so).
public struct ExperimentStore: Sendable {
    public enum StoreError: Error, Sendable, Hashable, CustomStringConvertible {
        case invalid(String)
        case alreadyRunning(domain: String)
        case duplicateID(String)
        case unknown(String)
        case notRunning(String)
        /// A `model:<version>` arm names no registered model of the experiment's domain.
        case unknownModel(version: String, domain: String)

        public var description: String {
            switch self {
            case .invalid(let reason): reason
            case .alreadyRunning(let domain): "an experiment already runs for \(domain): stop it first"
            case .duplicateID(let id): "an experiment named \(id) exists (ids are never reused: their figures are kept)"
            case .unknown(let id): "no experiment \(id)"
            case .notRunning(let id): "experiment \(id) is not running"
            case .unknownModel(let version, let domain): "\(version) is not a registered \(domain) model"
            }
        }
    }

    private let postgres: PostgresClient

    public init(postgres: PostgresClient) {
        self.postgres = postgres
    }

    /// Starts an experiment (now unless `startedAt` is given).
    @discardableResult
    public func start(
        id: String, domain: EventDomain, control: ExperimentArm, challenger: ExperimentArm, challengerShare: Double, startedAt: Date = Date()
    ) async throws -> Experiment {
        if let problem = Experiment.problem(id: id, control: control, challenger: challenger, challengerShare: challengerShare) {
            throw StoreError.invalid(problem)
        }
        // A version arm must name a registered model of the domain: refused now rather than never served
        // (the API would serve such an experiment's users production, unassigned).
        let registry = ModelRegistry(postgres: postgres)
        for arm in [control, challenger] {
            guard case .model(let version) = arm else { continue }
            guard let entry = try await registry.entry(version), entry.domain == domain.name else {
                throw StoreError.unknownModel(version: version, domain: domain.name)
            }
        }
        let insert: PostgresQuery = """
            INSERT INTO experiments (id, domain, control, challenger, challenger_share, started_at)
            VALUES (\(id), \(domain.name), \(control.description), \(challenger.description), \(challengerShare), \(startedAt))
            """
        let failure: PostgresError? = await Self.attempt(postgres, insert)
        if let failure {
            guard failure.sqlState == "23505" else { throw failure }
            if case .server(let server) = failure, server.message.contains("experiments_one_running") { throw StoreError.alreadyRunning(domain: domain.name) }
            throw StoreError.duplicateID(id)
        }
        guard let experiment = try await experiment(id) else { throw StoreError.unknown(id) }
        return experiment
    }

    /// Stops a running experiment; its figures stay.
    @discardableResult
    public func stop(_ id: String, at time: Date = Date()) async throws -> Experiment {
        let rows = try await postgres.query("UPDATE experiments SET stopped_at = \(time) WHERE id = \(id) AND stopped_at IS NULL RETURNING id")
        if rows.count != 1 {
            let existing = try await experiment(id)
            throw existing == nil ? StoreError.unknown(id) : StoreError.notRunning(id)
        }
        guard let experiment = try await experiment(id) else { throw StoreError.unknown(id) }
        return experiment
    }

    public func experiment(_ id: String) async throws -> Experiment? {
        try await experiments("""
            SELECT id, domain, control, challenger, challenger_share, started_at, stopped_at FROM experiments WHERE id = \(id)
            """).first
    }

    /// The experiments running now, one per domain at most.
    public func running() async throws -> [Experiment] {
        try await experiments("""
            SELECT id, domain, control, challenger, challenger_share, started_at, stopped_at FROM experiments
            WHERE stopped_at IS NULL AND started_at <= now() ORDER BY domain
            """)
    }

    /// Newest first.
    public func all() async throws -> [Experiment] {
        try await experiments("""
            SELECT id, domain, control, challenger, challenger_share, started_at, stopped_at FROM experiments ORDER BY started_at DESC, id
            """)
    }

    /// Records a promotion decision and its evidence (canonical JSON) on the experiment.
    public func recordDecision(_ id: String, evidence: JSONValue) async throws {
        let text = String(decoding: JSONWriter.encode(evidence), as: UTF8.self)
        try await postgres.query("UPDATE experiments SET decision = \(text)::jsonb WHERE id = \(id)")
    }

    /// Runs a statement; the error PostgreSQL answered, if any.
    private static func attempt(_ postgres: PostgresClient, _ statement: PostgresQuery) async -> PostgresError? {
        do {
            _ = try await postgres.query(statement)
            return nil
        } catch {
            return error
        }
    }

    private static func timestamp(_ date: Date) -> EventTimestamp {
        EventTimestamp(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    /// Rows of `id, domain, control, challenger, challenger_share, started_at, stopped_at`; rows this build
    /// cannot read (an arm it does not know) are skipped.
    private func experiments(_ query: PostgresQuery) async throws -> [Experiment] {
        return try await postgres.query(query).compactMap { row -> Experiment? in
            guard let domain = EventDomain(name: try row.decode(1, as: String.self)),
                  let control = ExperimentArm(try row.decode(2, as: String.self)),
                  let challenger = ExperimentArm(try row.decode(3, as: String.self))
            else { return nil }
            return Experiment(
                id: try row.decode(0, as: String.self), domain: domain, control: control, challenger: challenger,
                challengerShare: try row.decode(4, as: Double.self), startedAt: Self.timestamp(try row.decode(5, as: Date.self)),
                stoppedAt: try row.decode(6, as: Date?.self).map(Self.timestamp)
            )
        }
    }
}
