import Events
import Foundation
import ModelStore
import Postgres

public struct RegistryEntry: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case candidate, production, archived
    }

    public var version: String
    public var domain: String
    public var kind: String
    public var path: String
    public var sha256: String
    public var metrics: [String: Double]
    public var status: Status
    public var createdAt: Date
    public var promotedAt: Date?
    /// The production version this one replaced when it was promoted.
    public var replacedVersion: String?
}

public enum RegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownVersion(String)
    case notACandidate(version: String, status: RegistryEntry.Status)
    case nothingToRollBackTo(domain: String)

    public var description: String {
        switch self {
        case .unknownVersion(let version): "no model version \(version) in the registry"
        case .notACandidate(let version, let status): "\(version) is \(status.rawValue), not a candidate"
        case .nothingToRollBackTo(let domain): "\(domain) has no production model with a previous version to restore"
        }
    }
}

/// What the promotion gate decided.
public enum PromotionDecision: Sendable, Hashable {
    case promoted(replacing: String?)
    case rejected(reason: String)
}

/// The `model_registry` table (configs/migrations/0002): every artifact written, and which one serves each
/// domain. Promotion and rollback run in one transaction each, and the database allows one production row
/// per domain, so concurrent trainers cannot leave two.
public struct ModelRegistry: Sendable {
    private let postgres: PostgresClient

    public init(postgres: PostgresClient) {
        self.postgres = postgres
    }

    public func register(_ manifest: ModelManifest, path: String, sha256: String) async throws {
        try await postgres.query("""
            INSERT INTO model_registry (version, domain, kind, path, sha256, metrics, status, created_at)
            VALUES (\(manifest.version), \(manifest.domain), \(manifest.kind), \(path), \(sha256), \(Self.json(manifest.metrics)),
                    'candidate', \(Date(timeIntervalSince1970: Double(manifest.createdAt.millisecondsSinceEpoch) / 1000)))
            """)
    }

    public func entry(_ version: String) async throws -> RegistryEntry? {
        try await entries("WHERE version = \(version)").first
    }

    public func production(domain: String) async throws -> RegistryEntry? {
        try await entries("WHERE domain = \(domain) AND status = 'production'").first
    }

    /// Newest first.
    public func list(domain: String?) async throws -> [RegistryEntry] {
        if let domain { return try await entries("WHERE domain = \(domain) ORDER BY created_at DESC, version DESC") }
        return try await entries("ORDER BY domain, created_at DESC, version DESC")
    }

    /// Promotes a candidate if its `metric` (higher is better) is not worse than production's by more
    /// than `tolerance` (relative), or if `force`. The replaced production model is archived.
    public func promote(_ version: String, metric: String, tolerance: Double, force: Bool) async throws -> PromotionDecision {
        try await postgres.withTransaction { session in
            guard let candidate = try await Self.entries(session, "WHERE version = \(version) FOR UPDATE").first else {
                throw RegistryError.unknownVersion(version)
            }
            guard candidate.status == .candidate else { throw RegistryError.notACandidate(version: version, status: candidate.status) }
            let current = try await Self.entries(session, "WHERE domain = \(candidate.domain) AND status = 'production' FOR UPDATE").first
            if let current, !force {
                let new = candidate.metrics[metric] ?? -Double.infinity
                let old = current.metrics[metric] ?? -Double.infinity
                if new < old * (1 - tolerance) {
                    return .rejected(reason: "\(metric) \(String(format: "%.4f", new)) is worse than production \(current.version)'s "
                        + "\(String(format: "%.4f", old)) by more than \(String(format: "%.1f", tolerance * 100)) %")
                }
            }
            if let current {
                try await session.query("UPDATE model_registry SET status = 'archived', archived_at = now() WHERE version = \(current.version)")
            }
            try await session.query("""
                UPDATE model_registry SET status = 'production', promoted_at = now(), replaced_version = \(current?.version)
                WHERE version = \(version)
                """)
            return .promoted(replacing: current?.version)
        }
    }

    /// Records the online evidence a promotion was decided on (`trainer promote --online`; canonical JSON).
    public func recordPromotionEvidence(_ version: String, evidence: JSONValue) async throws {
        let text = String(decoding: JSONWriter.encode(evidence), as: UTF8.self)
        try await postgres.query("UPDATE model_registry SET promotion_evidence = \(text)::jsonb WHERE version = \(version)")
    }

    /// Restores the version the current production model replaced; the current one is archived.
    /// Returns the restored entry.
    public func rollback(domain: String) async throws -> RegistryEntry {
        try await postgres.withTransaction { session in
            guard let current = try await Self.entries(session, "WHERE domain = \(domain) AND status = 'production' FOR UPDATE").first,
                let previous = current.replacedVersion
            else { throw RegistryError.nothingToRollBackTo(domain: domain) }
            try await session.query("UPDATE model_registry SET status = 'archived', archived_at = now() WHERE version = \(current.version)")
            try await session.query("UPDATE model_registry SET status = 'production', promoted_at = now() WHERE version = \(previous)")
            guard let restored = try await Self.entries(session, "WHERE version = \(previous)").first else {
                throw RegistryError.unknownVersion(previous)
            }
            return restored
        }
    }

    // MARK: - Rows

    private func entries(_ condition: PostgresQuery) async throws -> [RegistryEntry] {
        try await postgres.withConnection { session in try await Self.entries(session, condition) }
    }

    private static func entries(_ session: PostgresSession, _ condition: PostgresQuery) async throws -> [RegistryEntry] {
        var query = PostgresQuery(unsafeSQL: """
            SELECT version, domain, kind, path, sha256, metrics::text, status, created_at, promoted_at, replaced_version
            FROM model_registry
            """)
        query.sql += " " + condition.sql
        query.bindings = condition.bindings
        return try await session.query(query).map { row in
            RegistryEntry(
                version: try row.decode(0, as: String.self), domain: try row.decode(1, as: String.self), kind: try row.decode(2, as: String.self),
                path: try row.decode(3, as: String.self), sha256: try row.decode(4, as: String.self),
                metrics: parseMetrics(try row.decode(5, as: String.self)),
                status: RegistryEntry.Status(rawValue: try row.decode(6, as: String.self)) ?? .archived,
                createdAt: try row.decode(7, as: Date.self), promotedAt: try row.decode(8, as: Date?.self),
                replacedVersion: try row.decode(9, as: String?.self)
            )
        }
    }

    static func json(_ metrics: [String: Double]) -> String {
        String(decoding: JSONWriter.encode(.object(metrics.sorted { $0.key < $1.key }.map { ($0.key, .number(String($0.value))) })), as: UTF8.self)
    }

    static func parseMetrics(_ text: String) -> [String: Double] {
        guard case .object(let members)? = try? JSONParser.parse(Array(text.utf8)) else { return [:] }
        var metrics: [String: Double] = [:]
        for (key, value) in members {
            if case .number(let number) = value, let double = Double(number) { metrics[key] = double }
        }
        return metrics
    }
}
