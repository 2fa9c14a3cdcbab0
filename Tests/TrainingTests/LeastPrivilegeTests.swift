import Events
import Features
import Foundation
import Kafka
import Logging
import Postgres
import StackTestSupport
import Testing
import Training

/// configs/postgres/least-privilege.sql against the login roles the local stack creates: each service's
/// work succeeds under its own role, and what it must not do is refused by PostgreSQL.
@Suite("PostgreSQL least privilege per service", .serialized)
struct LeastPrivilegeTests {
    @Test("processor, trainer and API roles do their work after the owner migrated and granted; DDL, deletes and writes outside their part are refused")
    func eachRoleCanDoItsWorkAndNothingMore() async throws {
        let fixture = try await TrainingFixture()  // a schema of its own, migrated by the owner role
        let grants = try String(contentsOfFile: TestStack.repositoryRoot + "/configs/postgres/least-privilege.sql", encoding: .utf8)
        try await fixture.postgres.query(PostgresQuery(unsafeSQL: grants))

        func client(_ role: String) throws -> PostgresClient {
            var configuration = fixture.configuration.postgres
            configuration.user = role
            return PostgresClient(configuration: configuration)
        }
        func refused(_ postgres: PostgresClient, _ statement: PostgresQuery) async -> Bool {
            do {
                try await postgres.query(statement)
                return false
            } catch {
                // DDL on a table answers "must be owner of table …"; everything else "permission denied …".
                return "\(error)".contains("permission denied") || "\(error)".contains("must be owner")
            }
        }

        // The stream processor: migrations already applied (none to run, no DDL needed), interactions appended,
        // the catalog upserted; nothing dropped, deleted or created.
        let processor = try client("streamrec_processor")
        #expect(try await PostgresMigrator(directory: fixture.configuration.migrationsDirectory).migrate(processor).isEmpty)
        let store = TrainingStore(postgres: processor)
        let now = EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        try await store.upsertCatalog(Event(
            eventID: EventID.random(), type: .movieAdded, userID: "catalog", subjectID: "m1", occurredAt: now,
            payload: .movieAdded(MovieDetails(title: "A Film", year: 1999, genres: ["Drama"]))
        ))
        let like = Event(eventID: EventID.random(), type: .movieLike, userID: "u1", subjectID: "m1", occurredAt: now)
        #expect(try await store.append([FeatureEvent(event: like, position: RecordPosition(topic: "t", partition: 0, offset: 0), groups: [])]) == 1)
        #expect(await refused(processor, "DROP TABLE interactions"))
        #expect(await refused(processor, "DELETE FROM interactions"))
        #expect(await refused(processor, "CREATE TABLE intruder (id integer)"))
        #expect(await refused(processor, "INSERT INTO model_registry (version, domain, kind, path, sha256, metrics, status) VALUES ('x', 'polls', 'k', 'p', 's', '{}', 'candidate')"))
        await processor.shutdown()

        // The trainer: bootstraps data, trains, registers and promotes; cannot delete registry rows or data.
        let trainer = try client("streamrec_trainer")
        _ = try await Bootstrap(store: TrainingStore(postgres: trainer)).load(polls: TrainingFixture.smallPolls())
        var logger = Logger(label: "least-privilege")
        logger.logLevel = .critical
        let summary = try await TrainingRun(configuration: fixture.configuration, postgres: trainer, logger: logger) { _, _ in }
            .train(domain: "polls", force: false, codeRevision: "test")
        #expect(summary.manifest.domain == "polls")
        #expect(await refused(trainer, "DELETE FROM model_registry"))
        #expect(await refused(trainer, "TRUNCATE interactions"))
        #expect(await refused(trainer, "ALTER TABLE movies ADD COLUMN intruder integer"))
        await trainer.shutdown()

        // The API: reads the catalog and the registry; writes nothing.
        let api = try client("streamrec_api")
        #expect(try await PostgresMigrator(directory: fixture.configuration.migrationsDirectory).migrate(api).isEmpty)
        #expect(try await ModelRegistry(postgres: api).production(domain: "polls") != nil)
        #expect(try await api.query("SELECT count(*) FROM polls")[0].decode(0, as: Int.self) > 0)
        #expect(await refused(api, "INSERT INTO interactions (event_id, domain, event_type, user_id, item_id, occurred_at) VALUES (gen_random_uuid(), 'movie', 'movie.like', 'u', 'm', now())"))
        #expect(await refused(api, "UPDATE model_registry SET status = 'archived'"))
        #expect(await refused(api, "SELECT count(*) FROM interactions"), "the API never reads raw interactions")
        await api.shutdown()
        try await fixture.finish()
    }
}
