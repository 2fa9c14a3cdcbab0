import EventStore
import Events
import Foundation
@testable import Inference
import Logging
import ModelRegistry
import ModelStore
import Postgres
import Serving
import ServiceSupport
import StackTestSupport
import Synchronization
import Testing

@Suite("The periodic catalog refresh reads the catalog only when PostgreSQL's fingerprint of it changed")
struct CatalogRefreshTests {
    private static func movie(_ id: String, title: String, at time: Int64) -> Event {
        Event(
            eventID: EventID.random(), type: .movieAdded, userID: "catalog", subjectID: id,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: time), payload: .movieAdded(MovieDetails(title: title, year: 2001, genres: ["Drama"]))
        )
    }

    @Test("unchanged: no read; a new movie, a retitle at the same time, a poll's author: read; the copy follows")
    func periodicRefreshSkipsAnUnchangedCatalog() async throws {
        let schema = TestStack.uniqueName("catalog_refresh")
        let configuration = try await TestStack.createSchema(schema)
        let postgres = PostgresClient(configuration: configuration)
        let migrations = TestStack.repositoryRoot + "/configs/migrations"
        _ = try await PostgresMigrator(directory: migrations).migrate(postgres)
        let store = TrainingStore(postgres: postgres)
        try await store.upsertCatalog(Self.movie("m1", title: "First", at: 1_000))
        var logger = Logger(label: "catalog-refresh-tests")
        logger.logLevel = .critical
        let refresher = MetadataRefresher(
            catalog: CatalogMetadata(), models: ModelRepository(registry: ModelRegistry(postgres: postgres), artifacts: ArtifactStore(root: "."), logger: logger),
            postgres: postgres, migrations: SchemaMigrations(directory: migrations, apply: true), interval: .seconds(600), logger: logger
        )
        func refresh() async -> Int {
            await refresher.refreshOnce(initial: false, modelsToo: false)
            return refresher.catalogReads.load(ordering: .relaxed)
        }

        #expect(await refresh() == 1, "the first refresh reads")
        #expect(refresher.catalog.movie("m1")?.title == "First")
        #expect(await refresh() == 1, "nothing changed: not read")
        #expect(await refresh() == 1)

        try await store.upsertCatalog(Self.movie("m2", title: "Second", at: 2_000))
        #expect(await refresh() == 2, "a new movie")
        #expect(refresher.catalog.movie("m2")?.title == "Second")
        #expect(await refresh() == 2)

        // Same id and time, another title (a tie goes to the later upsert): the count and newest time stay.
        try await store.upsertCatalog(Self.movie("m2", title: "Second, retitled", at: 2_000))
        #expect(await refresh() == 3, "a retitle at the same time")
        #expect(refresher.catalog.movie("m2")?.title == "Second, retitled")

        try await store.upsertCatalog(Event(
            eventID: EventID.random(), type: .pollCreated, userID: "catalog", subjectID: "p1", occurredAt: EventTimestamp(millisecondsSinceEpoch: 3_000),
            payload: .pollCreated(PollDetails(question: "Q?", options: [PollOption(id: "a", text: "A")], category: "c", author: nil))
        ))
        #expect(await refresh() == 4, "a new poll")
        try await store.upsertCatalog(Event(
            eventID: EventID.random(), type: .pollCreated, userID: "catalog", subjectID: "p1", occurredAt: EventTimestamp(millisecondsSinceEpoch: 3_000),
            payload: .pollCreated(PollDetails(question: "Q?", options: [PollOption(id: "a", text: "A")], category: "c", author: "someone"))
        ))
        #expect(await refresh() == 5, "an author where there was none")
        #expect(await refresh() == 5)

        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
    }
}
