import Events
import Features
import Foundation
import Postgres

/// The PostgreSQL side of events: the `interactions` training store and the catalog tables (schema in
/// configs/migrations), written by the processor (and the trainer's bootstrap), read by the processor
/// (genres and categories), the trainer and the API (the whole catalog). Every write is idempotent, so a
/// replayed batch changes nothing.
public struct TrainingStore: Sendable {
    private let postgres: PostgresClient

    public init(postgres: PostgresClient) {
        self.postgres = postgres
    }

    static let columns = [
        "event_id", "domain", "event_type", "user_id", "item_id", "value", "option_id", "occurred_at",
        "source_topic", "source_partition", "source_offset",
    ]

    /// Batches of at least this many rows are written by ``parallelWriters`` transactions at once, each on
    /// its own pooled connection (never more than the pool holds): one backend spends ~5–6 µs a row inserting
    /// into the primary key and the time index, and two halves at once took 0.7–0.9 of the time of one (two runs)
    /// (docs/benchmarks.md, "the training store on two connections"). Below it a second connection and round
    /// trip are not worth it (an assumption, not measured).
    static let parallelThreshold = 2_000
    static let parallelWriters = 2

    /// Appends interactions: a binary `COPY` into a per-session temporary staging table, then one insert
    /// that skips event ids already stored (and all but one of an id repeated in the list: the first, as the
    /// staging table is scanned in the order it was filled, which SQL does not promise). Returns
    /// how many rows were new. Catalog events in the list are skipped (they are not interactions), so a
    /// batch is passed as it is, not copied without them. Throws, storing nothing, if an event id is not a UUID.
    ///
    /// A large batch is split by event id over ``parallelWriters`` transactions run at once: every copy of an
    /// id lands in the same one, in list order, so the first is still the one kept. If one fails after another
    /// committed, part of the batch is stored; the caller retries the whole batch, which stores only the rest
    /// (and counts only those as new).
    @discardableResult
    public func append(_ interactions: [FeatureEvent]) async throws -> Int {
        let rowCount = interactions.count { !$0.event.type.isCatalog }
        let writers = rowCount >= Self.parallelThreshold ? min(Self.parallelWriters, postgres.configuration.pool.maximumConnections) : 1
        var parts = [[[(any PostgresBinaryEncodable)?]]](repeating: [], count: writers)
        for part in parts.indices { parts[part].reserveCapacity(rowCount / writers + 16) }
        for item in interactions where !item.event.type.isCatalog {
            let event = item.event
            guard let (high, low) = EventID.bits(of: event.eventID) else {
                throw PostgresError.invalidParameter(index: 0, reason: "event_id is not a UUID: \(event.eventID.prefix(64))")
            }
            var value: Double?
            var option: String?
            switch event.payload {
            case .rating(let rating): value = rating
            case .view(let seconds): value = seconds
            case .vote(let optionID): option = optionID
            default: break
            }
            parts[Int((high ^ low) % UInt64(writers))].append([
                Self.uuid(high: high, low: low), event.domain.rawValue, event.type.rawValue, event.userID, event.subjectID, value, option,
                Self.date(event.occurredAt), item.position.topic, item.position.partition, item.position.offset,
            ])
        }
        let postgres = postgres
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for rows in parts.dropFirst() where !rows.isEmpty { group.addTask { try await Self.append(rows: rows, postgres: postgres) } }
            var inserted = parts[0].isEmpty ? 0 : try await Self.append(rows: parts[0], postgres: postgres)
            for try await count in group { inserted += count }
            return inserted
        }
    }

    /// One transaction of ``append(_:)``: the rows staged, then inserted where their id is new.
    private static func append(rows: [[(any PostgresBinaryEncodable)?]], postgres: PostgresClient) async throws -> Int {
        try await postgres.withTransaction { session in
            // ON COMMIT DELETE ROWS: the staging table is empty at the start of every transaction.
            try await session.query("""
                CREATE TEMPORARY TABLE IF NOT EXISTS interactions_staging
                    (LIKE interactions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
                """)
            try await session.copyIn(table: "interactions_staging", columns: Self.columns, rows: rows)
            let list = Self.columns.joined(separator: ", ")
            let inserted = try await session.query(PostgresQuery(unsafeSQL: """
                INSERT INTO interactions (\(list))
                SELECT \(list) FROM interactions_staging
                ON CONFLICT (event_id) DO NOTHING
                """))
            return inserted.affectedRows
        }
    }

    /// The UUID of an event id's bits (``EventID/bits(of:acceptingUpperCase:)``).
    static func uuid(high: UInt64, low: UInt64) -> UUID {
        let h = high.bigEndian, l = low.bigEndian
        return withUnsafeBytes(of: (h, l)) { raw in
            UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
        }
    }

    /// Upserts a catalog event; see ``upsertCatalog(_:)-([Event])``.
    public func upsertCatalog(_ event: Event) async throws {
        try await upsertCatalog([event])
    }

    /// Upserts catalog events: one statement per table for the whole list (a catalog of 60 000 movies
    /// arrives as 60 000 events; one round trip each was most of a batch's time). The newest `occurred_at`
    /// wins, so replays and reordering cannot bring back an older title; between events of one id with
    /// the same time the later in the list wins, as one upsert after another would have it. Events that
    /// are not catalog events are ignored.
    public func upsertCatalog(_ events: [Event]) async throws {
        // One row per id (a statement cannot update a row twice): the one the upserts in order would leave.
        let movies = Self.newestPerID(events) { event -> MovieDetails? in
            if case .movieAdded(let movie) = event.payload { movie } else { nil }
        }
        let polls = Self.newestPerID(events) { event -> PollDetails? in
            if case .pollCreated(let poll) = event.payload { poll } else { nil }
        }
        if !movies.isEmpty {
            let ids = movies.map(\.0.subjectID), titles = movies.map(\.1.title)
            let years = PostgresTextArray(movies.map { $0.1.year.map(String.init) })
            let genres = movies.map(\.1.genres.postgresText), times = movies.map { Self.date($0.0.occurredAt).postgresText }
            try await postgres.query("""
                INSERT INTO movies (item_id, title, year, genres, updated_at)
                SELECT item_id, title, year::integer, genres::text[], updated_at::timestamptz
                FROM unnest(\(ids)::text[], \(titles)::text[], \(years)::text[], \(genres)::text[], \(times)::text[])
                    AS batch (item_id, title, year, genres, updated_at)
                ON CONFLICT (item_id) DO UPDATE
                SET title = EXCLUDED.title, year = EXCLUDED.year, genres = EXCLUDED.genres, updated_at = EXCLUDED.updated_at
                WHERE movies.updated_at <= EXCLUDED.updated_at
                """)
        }
        if !polls.isEmpty {
            let ids = polls.map(\.0.subjectID), questions = polls.map(\.1.question), categories = polls.map(\.1.category)
            let authors = PostgresTextArray(polls.map(\.1.author)), options = polls.map { PollOptionsJSON.encode($0.1.options) }
            let times = polls.map { Self.date($0.0.occurredAt).postgresText }
            try await postgres.query("""
                INSERT INTO polls (poll_id, question, category, author, options, created_at, updated_at)
                SELECT poll_id, question, category, author, options::jsonb, updated_at::timestamptz, updated_at::timestamptz
                FROM unnest(\(ids)::text[], \(questions)::text[], \(categories)::text[], \(authors)::text[], \(options)::text[], \(times)::text[])
                    AS batch (poll_id, question, category, author, options, updated_at)
                ON CONFLICT (poll_id) DO UPDATE
                SET question = EXCLUDED.question, category = EXCLUDED.category, author = EXCLUDED.author,
                    options = EXCLUDED.options, updated_at = EXCLUDED.updated_at
                WHERE polls.updated_at <= EXCLUDED.updated_at
                """)
        }
    }

    /// Per subject id, the event that upserts in list order would leave (the newest; of equal times the
    /// later), with its `details`, in the order ids first appear; events without details are left out.
    static func newestPerID<Details>(_ events: [Event], details: (Event) -> Details?) -> [(Event, Details)] {
        var kept: [(Event, Details)] = []
        var indexOfID: [String: Int] = [:]
        for event in events {
            guard let value = details(event) else { continue }
            if let index = indexOfID[event.subjectID] {
                if kept[index].0.occurredAt <= event.occurredAt { kept[index] = (event, value) }
            } else {
                indexOfID[event.subjectID] = kept.count
                kept.append((event, value))
            }
        }
        return kept
    }

    /// Genres of these movies, or the category of these polls, for the ids the catalog knows.
    public func groups(_ domain: EventDomain, ids: [String]) async throws -> [String: [String]] {
        guard !ids.isEmpty else { return [:] }
        var result: [String: [String]] = [:]
        switch domain {
        case .movie:
            for row in try await postgres.query("SELECT item_id, genres FROM movies WHERE item_id = ANY(\(ids))") {
                result[try row.decode(0, as: String.self)] = try row.decode(1, as: [String].self)
            }
        case .poll:
            for row in try await postgres.query("SELECT poll_id, category FROM polls WHERE poll_id = ANY(\(ids))") {
                result[try row.decode(0, as: String.self)] = [try row.decode(1, as: String.self)]
            }
        }
        return result
    }

    /// The whole catalog: every movie's title, year and genres, every poll's question, category and
    /// options (the inference API keeps it in memory, `CatalogMetadata`).
    public func catalog() async throws -> Catalog {
        var movies: [String: Catalog.Movie] = [:]
        for row in try await postgres.query("SELECT item_id, title, year, genres FROM movies") {
            movies[try row.decode(0, as: String.self)] = Catalog.Movie(
                title: try row.decode(1, as: String.self), year: try row.decode(2, as: Int?.self), genres: try row.decode(3, as: [String].self)
            )
        }
        var polls: [String: Catalog.Poll] = [:]
        for row in try await postgres.query("SELECT poll_id, question, category, options::text FROM polls") {
            polls[try row.decode(0, as: String.self)] = Catalog.Poll(
                question: try row.decode(1, as: String.self), category: try row.decode(2, as: String.self),
                options: PollOptionsJSON.decode(try row.decode(3, as: String.self))
            )
        }
        return Catalog(movies: movies, polls: polls)
    }

    /// A fingerprint of the catalog tables, computed by PostgreSQL without sending a row: per table the row
    /// count, the newest `updated_at` and the sum of a 64-bit hash of every column. Equal fingerprints mean
    /// an unchanged catalog but for a hash collision, so a reader uses it to skip a re-read it does only as
    /// a safety net (announced changes are read whatever it says).
    public func catalogFingerprint() async throws -> String {
        let row = try await postgres.query("""
            SELECT (SELECT concat_ws(' ', count(*), max(updated_at), sum(hashtextextended(
                        concat_ws(chr(31), item_id, title, coalesce(year::text, chr(29)), array_to_string(genres, chr(30)), updated_at), 0)))
                    FROM movies),
                   (SELECT concat_ws(' ', count(*), max(updated_at), sum(hashtextextended(
                        concat_ws(chr(31), poll_id, question, category, coalesce(author, chr(29)), options::text, coalesce(created_at::text, chr(29)), updated_at), 0)))
                    FROM polls)
            """).first
        return "movies \(try row?.decode(0, as: String.self) ?? ""); polls \(try row?.decode(1, as: String.self) ?? "")"
    }

    /// The schema that holds the catalog tables, as PostgreSQL names it (unquoted, exact case): what the
    /// catalog tables' trigger (migration 0003) puts before the table in its `NOTIFY` payload. Nil when the
    /// tables do not exist yet.
    public func catalogSchema() async throws -> String? {
        let row = try await postgres.query("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass('polls')").first
        return try row?.decode(0, as: String.self)
    }

    static func date(_ timestamp: EventTimestamp) -> Date {
        Date(timeIntervalSince1970: Double(timestamp.millisecondsSinceEpoch) / 1000)
    }
}
