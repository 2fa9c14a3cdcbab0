import Foundation
import Logging
import Postgres
import ServiceSupport
import StackTestSupport
import Testing

@Suite("Who applies the schema migrations: the applying mode applies, the checking mode refuses a schema missing one")
struct SchemaMigrationsTests {
    let directory = TestStack.repositoryRoot + "/configs/migrations"
    let logger = Logger(label: "test.schema-migrations")

    @Test("check-only refuses a fresh schema naming the first missing migration, creates nothing; applying applies; then the check passes")
    func checkThenApply() async throws {
        let schema = TestStack.uniqueName("schemamig")
        let configuration = try await TestStack.createSchema(schema)
        let postgres = PostgresClient(configuration: configuration)
        let versions = try PostgresMigrator(directory: directory).migrations.map(\.version)
        let checking = SchemaMigrations(directory: directory, apply: false)
        do {
            let refused = await #expect(throws: PostgresError.self) { try await checking.prepare(postgres, logger: logger) }
            #expect(refused?.description.contains("the schema lacks migration 0001_training_store (and \(versions.count - 1) more)") == true)
            #expect(refused?.description.contains("postgres.apply_migrations = false") == true)
            #expect(refused?.description.contains("trainer check") == true)
            // Checking changed nothing: not even the bookkeeping table exists.
            #expect(try await postgres.query("SELECT to_regclass('schema_migrations') IS NULL")[0].decode(0, as: Bool.self))

            #expect(try await SchemaMigrations(directory: directory, apply: true).prepare(postgres, logger: logger) == versions)
            #expect(try await checking.prepare(postgres, logger: logger) == [])

            // The newest migration forgotten (a service deployed before the trainer migrated): refused by name.
            let newest = try #require(try PostgresMigrator(directory: directory).migrations.last)
            try await postgres.query("DELETE FROM schema_migrations WHERE version = \(newest.version)")
            let missing = await #expect(throws: PostgresError.self) { try await checking.prepare(postgres, logger: logger) }
            #expect(missing?.description.contains("the schema lacks migration \(newest.name);") == true)
        } catch {
            Issue.record("\(error)")
        }
        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
    }
}
