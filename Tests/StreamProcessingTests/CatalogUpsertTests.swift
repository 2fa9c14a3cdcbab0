import EventStore
import Events
import Foundation
import Postgres
import StackTestSupport
import Testing

@Suite("Catalog upserts: one statement per table for a batch of catalog events")
struct CatalogUpsertTests {
    private static func movie(_ id: String, at time: Int64, title: String, year: Int? = 1999, genres: [String] = ["Drama"]) -> Event {
        Event(
            eventID: EventID.random(), type: .movieAdded, userID: "catalog", subjectID: id,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: time), payload: .movieAdded(MovieDetails(title: title, year: year, genres: genres))
        )
    }

    private static func poll(_ id: String, at time: Int64, question: String, author: String?) -> Event {
        Event(
            eventID: EventID.random(), type: .pollCreated, userID: "catalog", subjectID: id,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: time),
            payload: .pollCreated(PollDetails(
                question: question, options: [PollOption(id: "a", text: "A, \"quoted\""), PollOption(id: "b", text: "{b}")],
                category: "testing", author: author
            ))
        )
    }

    @Test("per id the newest wins, a tie goes to the later event, nulls and hostile text survive, an older replay changes nothing")
    func batchUpsertKeepsTheNewest() async throws {
        let schema = TestStack.uniqueName("catalog_upsert")
        let postgres = try await TestStack.migratedSchema(schema)
        let store = TrainingStore(postgres: postgres)
        let hostile = #"A "quoted", {braced} \ title; DROP TABLE movies; --"#

        try await store.upsertCatalog([
            Self.movie("m1", at: 100, title: "Old"),
            Self.movie("m1", at: 200, title: "New", genres: ["Comedy", "Drama"]),
            Self.movie("m1", at: 150, title: "Older than the one kept"),
            Self.movie("m2", at: 100, title: hostile, year: nil, genres: [#"Sci-Fi, "odd" {genre} \"#, "NULL"]),
            Self.movie("m3", at: 100, title: "First of a tie"),
            Self.movie("m3", at: 100, title: "Second of a tie"),
            Event(eventID: EventID.random(), type: .movieRating, userID: "u1", subjectID: "m1", occurredAt: EventTimestamp(millisecondsSinceEpoch: 300), payload: .rating(4)),
            Self.poll("p1", at: 100, question: "Without an author?", author: nil),
            Self.poll("p2", at: 100, question: "Old question", author: "someone"),
            Self.poll("p2", at: 200, question: hostile, author: "someone else"),
        ])
        var catalog = try await store.catalog()
        #expect(catalog.movies.count == 3 && catalog.polls.count == 2)
        #expect(catalog.movies["m1"] == MovieDetails(title: "New", year: 1999, genres: ["Comedy", "Drama"]))
        #expect(catalog.movies["m2"] == MovieDetails(title: hostile, year: nil, genres: [#"Sci-Fi, "odd" {genre} \"#, "NULL"]))
        #expect(catalog.movies["m3"]?.title == "Second of a tie")
        #expect(catalog.polls["p1"]?.question == "Without an author?")
        #expect(catalog.polls["p2"]?.question == hostile)
        #expect(catalog.polls["p2"]?.options == [PollOption(id: "a", text: "A, \"quoted\""), PollOption(id: "b", text: "{b}")])
        let authors = try await postgres.query("SELECT poll_id, author FROM polls ORDER BY poll_id").map { row in
            [try row.decode(0, as: String.self), try row.decode(1, as: String?.self) ?? "<null>"]
        }
        #expect(authors == [["p1", "<null>"], ["p2", "someone else"]])

        // A replay of an older version changes nothing; a newer one, alone, replaces it.
        try await store.upsertCatalog([Self.movie("m1", at: 50, title: "Replayed"), Self.poll("p2", at: 150, question: "Replayed", author: nil)])
        catalog = try await store.catalog()
        #expect(catalog.movies["m1"]?.title == "New" && catalog.polls["p2"]?.question == hostile)
        try await store.upsertCatalog(Self.movie("m1", at: 300, title: "Newest", year: nil))
        catalog = try await store.catalog()
        #expect(catalog.movies["m1"] == MovieDetails(title: "Newest", year: nil, genres: ["Drama"]))
        try await store.upsertCatalog([])

        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
    }
}
