import Foundation
import Logging

/// Applies versioned schema migrations: SQL files named `NNNN_description.sql` in a directory, in
/// version order, each in its own transaction, recorded in `schema_migrations` with a checksum.
///
/// Safe to run at every start of every service: an advisory lock serialises concurrent starts, applied
/// versions are skipped, and a migration file edited after it was applied is refused (its checksum no
/// longer matches) instead of silently diverging.
public struct PostgresMigrator: Sendable {
    public struct Migration: Sendable, Hashable {
        public var version: Int
        public var name: String
        public var sql: String
    }

    /// Any fixed 64-bit key works; this one is "streamrec" in ASCII, truncated.
    static let advisoryLockKey: Int64 = 0x7374_7265_616d_7265

    public let migrations: [Migration]

    public init(migrations: [Migration]) throws(PostgresError) {
        let versions = migrations.map(\.version)
        guard Set(versions).count == versions.count else { throw .migration("two migrations share a version") }
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Reads `NNNN_name.sql` files from `directory`; other files are ignored.
    public init(directory: String) throws(PostgresError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .migration("cannot read migrations directory \(directory): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            guard let prefix = name.split(separator: "_", maxSplits: 1).first, let version = Int(prefix) else {
                throw .migration("\(name): file name must start with a version number and '_'")
            }
            guard let sql = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else {
                throw .migration("\(name): not readable as UTF-8")
            }
            migrations.append(Migration(version: version, name: String(name.dropLast(4)), sql: sql))
        }
        try self.init(migrations: migrations)
    }

    /// Applies what is missing and returns the versions applied by this call.
    @discardableResult
    public func migrate(_ client: PostgresClient) async throws(PostgresError) -> [Int] {
        let migrations = migrations
        let logger = client.logger
        return try await client.lease { session throws(PostgresError) in
            // Waiting for another instance's migrations, and running long ones, must not hit the
            // client's statement timeout; the session's default comes back with RESET below.
            try await session.query("SET statement_timeout = 0")
            // Lock first: two services starting together must not both create the bookkeeping table.
            try await session.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            do throws(PostgresError) {
                // Looked up first: a service role without CREATE on the schema (least privilege, see
                // configs/postgres/least-privilege.sql) cannot even run CREATE TABLE IF NOT EXISTS.
                let bookkeeping = try await session.query("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].decode(0, as: Bool.self)
                if !bookkeeping { try await session.query("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version bigint PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """) }
                let applied = try await Self.applyMissing(migrations, session: session, logger: logger)
                try await session.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                try await session.query("RESET statement_timeout")
                return applied
            } catch {
                _ = try? await session.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                _ = try? await session.query("RESET statement_timeout")
                throw error
            }
        }
    }

    /// The migrations not applied yet, in version order, without changing anything (no table created, no
    /// lock taken: a role without DDL rights can ask). An applied migration whose file changed since is
    /// refused, as `migrate` refuses it.
    public func pending(_ client: PostgresClient) async throws(PostgresError) -> [Migration] {
        let bookkeeping = try await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].decode(0, as: Bool.self)
        guard bookkeeping else { return migrations }
        var recorded: [Int: String] = [:]
        for row in try await client.query("SELECT version, checksum FROM schema_migrations") {
            recorded[try row.decode(0, as: Int.self)] = try row.decode(1, as: String.self)
        }
        var missing: [Migration] = []
        for migration in migrations {
            guard let existing = recorded[migration.version] else {
                missing.append(migration)
                continue
            }
            let checksum = try await client.query("SELECT md5(\(migration.sql))")[0].decode(0, as: String.self)
            guard existing == checksum else {
                throw .migration("migration \(migration.name) was changed after it was applied (checksum \(existing) → \(checksum))")
            }
        }
        return missing
    }

    private static func applyMissing(
        _ migrations: [Migration], session: PostgresSession, logger: Logger
    ) async throws(PostgresError) -> [Int] {
        var recorded: [Int: String] = [:]
        for row in try await session.query("SELECT version, checksum FROM schema_migrations") {
            recorded[try row.decode(0, as: Int.self)] = try row.decode(1, as: String.self)
        }
        var applied: [Int] = []
        for migration in migrations {
            // The server computes the checksum, so client and server agree on the bytes hashed.
            let checksum = try await session.query("SELECT md5(\(migration.sql))")[0].decode(0, as: String.self)
            if let existing = recorded[migration.version] {
                guard existing == checksum else {
                    throw .migration("migration \(migration.name) was changed after it was applied (checksum \(existing) → \(checksum))")
                }
                continue
            }
            try await session.query("BEGIN")
            do {
                try await session.executeScript(migration.sql)
                try await session.query("""
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(checksum))
                    """)
                try await session.query("COMMIT")
            } catch {
                _ = try? await session.query("ROLLBACK")
                throw .migration("\(migration.name) failed: \(error)")
            }
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        return applied
    }
}
