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

    /// Appends interactions: `COPY` into a per-session temporary staging table, then one insert that
    /// skips event ids already stored. Returns how many rows were new.
    @discardableResult
    public func append(_ interactions: [FeatureEvent]) async throws -> Int {
        guard !interactions.isEmpty else { return 0 }
        let rows: [[(any PostgresEncodable)?]] = interactions.map { item in
            let event = item.event
            var value: Double?
            var option: String?
            switch event.payload {
            case .rating(let rating): value = rating
            case .view(let seconds): value = seconds
            case .vote(let optionID): option = optionID
            default: break
            }
            return [
                event.eventID, event.domain.rawValue, event.type.rawValue, event.userID, event.subjectID, value, option,
                Self.date(event.occurredAt), item.position.topic, Int(item.position.partition), item.position.offset,
            ]
        }
        return try await postgres.withTransaction { session in
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

    /// Upserts a catalog event. The newest `occurred_at` wins, so replays and reordering cannot
    /// bring back an older title.
    public func upsertCatalog(_ event: Event) async throws {
        let updatedAt = Self.date(event.occurredAt)
        switch event.payload {
        case .movieAdded(let movie):
            try await postgres.query("""
                INSERT INTO movies (item_id, title, year, genres, updated_at)
                VALUES (\(event.subjectID), \(movie.title), \(movie.year), \(movie.genres), \(updatedAt))
                ON CONFLICT (item_id) DO UPDATE
                SET title = EXCLUDED.title, year = EXCLUDED.year, genres = EXCLUDED.genres, updated_at = EXCLUDED.updated_at
                WHERE movies.updated_at <= EXCLUDED.updated_at
                """)
        case .pollCreated(let poll):
            try await postgres.query("""
                INSERT INTO polls (poll_id, question, category, author, options, created_at, updated_at)
                VALUES (\(event.subjectID), \(poll.question), \(poll.category), \(poll.author), \(PollOptionsJSON.encode(poll.options)), \(updatedAt), \(updatedAt))
                ON CONFLICT (poll_id) DO UPDATE
                SET question = EXCLUDED.question, category = EXCLUDED.category, author = EXCLUDED.author,
                    options = EXCLUDED.options, updated_at = EXCLUDED.updated_at
                WHERE polls.updated_at <= EXCLUDED.updated_at
                """)
        default:
            return
        }
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
