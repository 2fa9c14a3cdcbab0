@testable import EventStore
import Events
import Features
import Foundation
import Postgres
import StackTestSupport
import Testing

@Suite("TrainingStore.append: the processor's training-store write")
struct TrainingStoreAppendTests {
    private static func item(
        _ id: String, _ type: EventType, user: String, subject: String, at time: Int64, payload: EventPayload = .none,
        partition: Int32 = 3, offset: Int64
    ) -> FeatureEvent {
        let event = Event(eventID: id, type: type, userID: user, subjectID: subject, occurredAt: EventTimestamp(millisecondsSinceEpoch: time), payload: payload)
        return FeatureEvent(event: event, position: RecordPosition(topic: "events.\(type.domain.rawValue)", partition: partition, offset: offset), groups: [])
    }

    @Test("every column stored as sent (NULL value and option included); an id repeated in the batch or stored before is skipped and not counted; a replay adds nothing")
    func appendSkipsStoredIDsAndCountsNewRows() async throws {
        let schema = TestStack.uniqueName("training_store")
        let postgres = try await TestStack.migratedSchema(schema)
        let store = TrainingStore(postgres: postgres)
        let ids = (0..<6).map { _ in EventID.random() }
        let time: Int64 = 1_765_000_123_457
        let hostile = "u\t\"1\"\n\\ ünï 🎬"
        let first = [
            Self.item(ids[0], .movieRating, user: hostile, subject: "m1", at: time, payload: .rating(4.5), offset: 10),
            Self.item(ids[1], .movieView, user: "u2", subject: "m2", at: time + 1, payload: .view(watchSeconds: nil), offset: 11),
            Self.item(ids[2], .pollVote, user: "u3", subject: "p1", at: time + 2, payload: .vote(optionID: "yes, \"b\""), partition: 0, offset: Int64(Int32.max) + 5),
            // The same id again in the batch (a producer retry): one is kept (the first: the staging table's
            // scan order, which holds for a temporary table though SQL does not promise it).
            Self.item(ids[0], .movieRating, user: hostile, subject: "m1", at: time, payload: .rating(1), offset: 12),
        ]
        #expect(try await store.append(first) == 3)

        let rows = try await postgres.query("""
            SELECT event_id::text, domain, event_type, user_id, item_id, value, option_id, (extract(epoch FROM occurred_at) * 1000000)::bigint,
                   source_topic, source_partition, source_offset, ingested_at IS NOT NULL
            FROM interactions ORDER BY source_offset
            """)
        #expect(rows.count == 3)
        #expect(try rows[0].decode(0, as: String.self) == ids[0] && rows[0].decode(1, as: String.self) == "movie")
        #expect(try rows[0].decode(2, as: String.self) == "movie.rating" && rows[0].decode(3, as: String.self) == hostile)
        #expect(try rows[0].decode(4, as: String.self) == "m1" && rows[0].decode(5, as: Double?.self) == 4.5)
        #expect(try rows[0].decode(6, as: String?.self) == nil && rows[0].decode(7, as: Int64.self) == time * 1000)
        #expect(try rows[0].decode(8, as: String.self) == "events.movie" && rows[0].decode(9, as: Int32.self) == 3)
        #expect(try rows[0].decode(10, as: Int64.self) == 10 && rows[0].decode(11, as: Bool.self))
        #expect(try rows[1].decode(5, as: Double?.self) == nil && rows[1].decode(6, as: String?.self) == nil)
        #expect(try rows[2].decode(1, as: String.self) == "poll" && rows[2].decode(5, as: Double?.self) == nil)
        #expect(try rows[2].decode(6, as: String?.self) == "yes, \"b\"" && rows[2].decode(9, as: Int32.self) == 0)
        #expect(try rows[2].decode(10, as: Int64.self) == Int64(Int32.max) + 5)

        // Ids stored before (a replay of part of the batch) among new ones: only the new are stored and counted.
        let second = [
            Self.item(ids[1], .movieView, user: "u2", subject: "m2", at: time + 1, payload: .view(watchSeconds: 30), offset: 11),
            Self.item(ids[3], .movieLike, user: "u4", subject: "m3", at: time + 3, offset: 13),
            Self.item(ids[2], .pollVote, user: "u3", subject: "p1", at: time + 2, payload: .vote(optionID: "no"), offset: 14),
            Self.item(ids[4], .pollExpand, user: "u5", subject: "p2", at: time + 4, offset: 15),
        ]
        #expect(try await store.append(second) == 2)
        #expect(try await store.append(first + second) == 0)
        #expect(try await store.append([]) == 0)
        let summary = try await postgres.query("SELECT count(*), count(value), count(option_id) FROM interactions")[0]
        #expect(try summary.decode(0, as: Int.self) == 5 && summary.decode(1, as: Int.self) == 1 && summary.decode(2, as: Int.self) == 1)
        // The stored row of a replayed id is the first one: the replay's view seconds and vote option were not taken.
        #expect(try await postgres.query("SELECT value FROM interactions WHERE event_id = \(ids[1])::uuid")[0].decode(0, as: Double?.self) == nil)

        // An event id that is not a UUID fails the batch before anything is written.
        await #expect(throws: PostgresError.self) {
            try await store.append([Self.item(ids[5], .movieLike, user: "u6", subject: "m4", at: time, offset: 16), Self.item("not-a-uuid", .movieLike, user: "u6", subject: "m4", at: time, offset: 17)])
        }
        #expect(try await postgres.query("SELECT count(*) FROM interactions")[0].decode(0, as: Int.self) == 5)
        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
    }

    @Test("a batch large enough to be written by several transactions at once: every id stored once, a repeated id from its first copy; a replay adds nothing")
    func largeBatchSplitOverTransactions() async throws {
        let schema = TestStack.uniqueName("training_store")
        let postgres = try await TestStack.migratedSchema(schema)
        let store = TrainingStore(postgres: postgres)
        let count = TrainingStore.parallelThreshold + 500
        let ids = (0..<count).map { _ in EventID.random() }
        let time: Int64 = 1_765_000_000_000
        var batch = ids.enumerated().map { index, id in
            Self.item(id, .movieRating, user: "u\(index % 97)", subject: "m\(index % 31)", at: time + Int64(index), payload: .rating(4), offset: Int64(index))
        }
        // Every 25th id again later in the batch (a producer's retry), with another rating.
        for index in stride(from: 0, to: count, by: 25) {
            batch.append(Self.item(ids[index], .movieRating, user: "u\(index % 97)", subject: "m\(index % 31)", at: time + Int64(index), payload: .rating(1), offset: Int64(count + index)))
        }
        // Catalog events do not count toward the split's threshold: with them, a batch of fewer rows is one transaction.
        let catalog = (0..<TrainingStore.parallelThreshold).map { index in
            Self.item(EventID.random(), .movieAdded, user: "", subject: "c\(index)", at: time, payload: .movieAdded(MovieDetails(title: "C \(index)", year: 2000, genres: ["Drama"])), offset: Int64(10 * count + index))
        }
        let few = (0..<10).map { Self.item(EventID.random(), .movieLike, user: "u1", subject: "m1", at: time, offset: Int64(20 * count + $0)) }
        #expect(try await store.append(catalog + few) == 10)
        #expect(try await postgres.query("SELECT count(DISTINCT xmin::text) FROM interactions")[0].decode(0, as: Int.self) == 1)
        try await postgres.query("TRUNCATE interactions")

        #expect(try await store.append(batch) == count)
        let summary = try await postgres.query("SELECT count(*), count(DISTINCT event_id), max(source_offset), min(value) FROM interactions")[0]
        #expect(try summary.decode(0, as: Int.self) == count && summary.decode(1, as: Int.self) == count)
        // Written by two transactions (each row carries the id of the one that inserted it).
        #expect(try await postgres.query("SELECT count(DISTINCT xmin::text) FROM interactions")[0].decode(0, as: Int.self) == TrainingStore.parallelWriters)
        // The first copies were kept: none of the retries' offsets or ratings.
        #expect(try summary.decode(2, as: Int64.self) == Int64(count - 1) && summary.decode(3, as: Double.self) == 4)
        #expect(try await store.append(batch) == 0)
        #expect(try await postgres.query("SELECT count(*) FROM interactions")[0].decode(0, as: Int.self) == count)
        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
    }
}
