import Logging
import Postgres

/// What a service does with the schema at start, decided in one place: the trainer applies the migrations
/// (`trainer check` or any trainer command, run first by `make run` and as the schema's owner); the stream
/// processor and the inference API apply them too while `postgres.apply_migrations` is true (the default,
/// so that a service started alone against a fresh schema, as the tests, docker-compose and the Kubernetes
/// manifests do, still works), and with it false only check that every migration file is applied and
/// refuse to go on, naming the first missing one (`make run` runs them so, as least-privilege roles that
/// could not apply a migration anyway).
public struct SchemaMigrations: Sendable {
    /// The `NNNN_name.sql` files (`postgres.migrations_dir`).
    public var directory: String
    /// Apply what is missing (true), or only check that nothing is (false).
    public var apply: Bool

    public init(directory: String, apply: Bool) {
        self.directory = directory
        self.apply = apply
    }

    /// Applies the missing migrations and returns their versions, or (`apply` false) checks that none is
    /// missing and returns []. Throws `PostgresError.migration` naming the first missing migration when
    /// checking, and anything `PostgresMigrator` throws.
    @discardableResult
    public func prepare(_ postgres: PostgresClient, logger: Logger) async throws(PostgresError) -> [Int] {
        let migrator = try PostgresMigrator(directory: directory)
        guard apply else {
            let missing = try await migrator.pending(postgres)
            guard let first = missing.first else { return [] }
            let more = missing.count > 1 ? " (and \(missing.count - 1) more)" : ""
            throw .migration(
                "the schema lacks migration \(first.name)\(more); this service only checks (postgres.apply_migrations = false): "
                    + "apply them as the schema's owner with `trainer check`"
            )
        }
        let applied = try await migrator.migrate(postgres)
        if !applied.isEmpty { logger.info("schema migrations applied", metadata: ["versions": "\(applied)"]) }
        return applied
    }
}
