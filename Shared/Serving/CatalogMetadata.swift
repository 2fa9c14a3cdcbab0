import Events
import EventStore
import Postgres
import Synchronization

/// Titles, years and genres of movies; questions, options and categories of polls: read from the
/// catalog tables (``TrainingStore/catalog()``), kept in memory, refreshed periodically (a refresh that
/// fails keeps the last copy).
public final class CatalogMetadata: Sendable {
    public typealias Movie = Catalog.Movie
    public typealias Poll = Catalog.Poll

    private struct State {
        var movies: [String: Movie] = [:]
        var polls: [String: Poll] = [:]
        var titles = TitleIndex([])
        /// The metadata members of each item's JSON, made once per refresh rather than per response.
        var movieMembers: [String: [(key: String, value: JSONValue)]] = [:]
        var pollMembers: [String: [(key: String, value: JSONValue)]] = [:]
        /// The same members already encoded (`"title":…,"year":…,"genres":[…]`), for responses written
        /// straight to bytes.
        var movieFragments: [String: [UInt8]] = [:]
        var pollFragments: [String: [UInt8]] = [:]
        /// Every genre of a movie and every category of a poll: what a user may state preferences for.
        var groups: [EventDomain: Set<String>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func refresh(from postgres: PostgresClient) async throws {
        let catalog = try await TrainingStore(postgres: postgres).catalog()
        let (movies, polls) = (catalog.movies, catalog.polls)
        // Built outside the lock: requests keep reading the previous index meanwhile.
        let titles = TitleIndex(movies.map { TitleIndex.Entry(id: $0.key, title: $0.value.title, year: $0.value.year) }.sorted { $0.id < $1.id })
        let movieMembers = movies.mapValues { movie -> [(key: String, value: JSONValue)] in
            [("title", .string(movie.title)), ("year", movie.year.map { .number(String($0)) } ?? .null), ("genres", .array(movie.genres.map { .string($0) }))]
        }
        let pollMembers = polls.mapValues { poll -> [(key: String, value: JSONValue)] in
            [
                ("question", .string(poll.question)), ("category", .string(poll.category)),
                ("options", .array(poll.options.map { .object([("id", .string($0.id)), ("text", .string($0.text))]) })),
            ]
        }
        let movieFragments = movieMembers.mapValues(Self.encodedMembers)
        let pollFragments = pollMembers.mapValues(Self.encodedMembers)
        state.withLock { state in
            state.movies = movies
            state.polls = polls
            state.titles = titles
            state.movieMembers = movieMembers
            state.pollMembers = pollMembers
            state.movieFragments = movieFragments
            state.pollFragments = pollFragments
            state.groups = [.movie: Set(movies.values.flatMap(\.genres)), .poll: Set(polls.values.map(\.category))]
        }
    }

    /// Every genre (movies) or category (polls) the catalog knows.
    public func knownGroups(_ domain: EventDomain) -> Set<String> { state.withLock { $0.groups[domain] ?? [] } }

    public func movie(_ id: String) -> Movie? { state.withLock { $0.movies[id] } }
    public func poll(_ id: String) -> Poll? { state.withLock { $0.polls[id] } }
    /// The JSON members describing an item in responses: title, year, genres of a movie; question,
    /// category, options of a poll. Empty when the catalog does not know it.
    public func jsonMembers(_ domain: EventDomain, _ id: String) -> [(key: String, value: JSONValue)] {
        state.withLock { state in (domain == .movie ? state.movieMembers[id] : state.pollMembers[id]) ?? [] }
    }

    /// ``jsonMembers(_:_:)`` of each id encoded as the inside of an object (no braces; empty when the catalog
    /// does not know the item), read under one lock.
    public func jsonFragments(_ domain: EventDomain, _ ids: [String]) -> [[UInt8]] {
        state.withLock { state in
            let fragments = domain == .movie ? state.movieFragments : state.pollFragments
            return ids.map { fragments[$0] ?? [] }
        }
    }

    static func encodedMembers(_ members: [(key: String, value: JSONValue)]) -> [UInt8] {
        var writer = JSONWriter(capacity: 128)
        writer.value(.object(members))
        return Array(writer.bytes.dropFirst().dropLast())
    }

    /// Movie titles for fuzzy resolution (`/v1/predict`, `/v1/similar?title=`).
    public var titles: TitleIndex { state.withLock { $0.titles } }
    public var counts: (movies: Int, polls: Int) { state.withLock { ($0.movies.count, $0.polls.count) } }

    /// Genres of a movie, or the category of a poll.
    public func groups(_ domain: EventDomain, _ id: String) -> [String]? {
        switch domain {
        case .movie: movie(id)?.genres
        case .poll: poll(id).map { [$0.category] }
        }
    }
}
