import Datasets
import Events
import Features
import Foundation
import ModelStore
import Recommender

/// Loads a dataset into PostgreSQL as if its events had come through the stream: the catalog into
/// `movies`/`polls`, the interactions into `interactions` (with event ids derived from their content, so
/// loading twice stores nothing twice).
public struct Bootstrap: Sendable {
    private let store: TrainingStore

    public init(store: TrainingStore) {
        self.store = store
    }

    /// The layout found in `directory` (by its file names), if any.
    public static func detectLayout(directory: String) -> MovieLens.Layout? {
        MovieLens.Layout.allCases.first { layout in
            FileManager.default.fileExists(atPath: "\(directory)/\(layout.files.ratings)")
                && FileManager.default.fileExists(atPath: "\(directory)/\(layout.files.movies)")
        }
    }

    /// Reads and parses a MovieLens directory.
    public static func readMovieLens(directory: String, layout: MovieLens.Layout) throws -> (movies: [MovieRecord], ratings: [RatingRecord]) {
        func read(_ name: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)") else {
                throw DatasetFileError(file: name, line: 0, "cannot read \(directory)/\(name)")
            }
            return MovieLens.text(Array(data))
        }
        return (
            try MovieLens.parseMovies(read(layout.files.movies), layout: layout),
            try MovieLens.parseRatings(read(layout.files.ratings), layout: layout)
        )
    }

    /// A dataset as events: the catalog (`movie.added` / `poll.created`) and the interactions, with ids
    /// derived from their content.
    public struct Events: Sendable {
        public var dataset: String
        public var catalog: [Event]
        public var interactions: [Event]
    }

    public static func events(dataset: String, movies: [MovieRecord], ratings: [RatingRecord]) -> Events {
        let added = EventTimestamp(millisecondsSinceEpoch: ((ratings.map(\.timestamp).min() ?? 0) - 86_400) * 1000)
        let catalog = movies.map { movie in
            Event(
                eventID: eventID(dataset, "movie.added", movie.id), type: .movieAdded, userID: "bootstrap", subjectID: movie.id, occurredAt: added,
                payload: .movieAdded(MovieDetails(title: movie.title, year: movie.year, genres: movie.genres))
            )
        }
        let interactions = ratings.map { rating in
            Event(
                eventID: eventID(dataset, rating.user, rating.item, String(rating.timestamp)), type: .movieRating,
                userID: rating.user, subjectID: rating.item, occurredAt: EventTimestamp(millisecondsSinceEpoch: rating.timestamp * 1000),
                payload: .rating(rating.rating)
            )
        }
        return Events(dataset: dataset, catalog: catalog, interactions: interactions)
    }

    /// Your own data: a TSV or CSV of `user item rating timestamp` lines (a header line allowed; the
    /// timestamp in seconds). Movies: each line is a `movie.rating` (0.5 to 5 in steps of 0.5, as the event
    /// contract has it). Polls: each line is a `poll.vote` and its third column the option voted for. A
    /// bad line is an error naming `file:line`. Items get no catalog entry (no titles or genres) unless the
    /// catalog comes from elsewhere.
    public static func events(interactions text: String, file: String, domain: EventDomain) throws(DatasetFileError) -> Events {
        let dataset = "file:" + file
        var interactions: [Event] = []
        switch domain {
        case .movie:
            let parsed: RatingsDataset
            do {
                parsed = try RatingsDataset.parse(text, ratings: Float(EventLimits.ratingRange.lowerBound)...Float(EventLimits.ratingRange.upperBound))
            } catch {
                throw DatasetFileError(file: file, line: error.line, error.message)
            }
            for interaction in parsed.interactions {
                let rating = (Double(interaction.value) * 2).rounded() / 2
                let user = parsed.users.id(at: interaction.user), item = parsed.items.id(at: interaction.item)
                interactions.append(Event(
                    eventID: eventID(dataset, user, item, String(interaction.timestamp)), type: .movieRating, userID: user, subjectID: item,
                    occurredAt: EventTimestamp(millisecondsSinceEpoch: interaction.timestamp * 1000), payload: .rating(rating)
                ))
            }
        case .poll:
            for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() where !line.allSatisfy(\.isWhitespace) {
                let fields = line.split(whereSeparator: { $0 == "\t" || $0 == "," }).map { $0.trimmingCharacters(in: .whitespaces) }
                guard fields.count == 4, let seconds = Int64(fields[3]) ?? Double(fields[3]).map({ Int64($0) }), fields[0...2].allSatisfy({ !$0.isEmpty }) else {
                    if index == 0 { continue }  // a header
                    throw DatasetFileError(file: file, line: index + 1, "expected user, poll, option, timestamp (seconds)")
                }
                interactions.append(Event(
                    eventID: eventID(dataset, fields[0], fields[1], fields[2], fields[3]), type: .pollVote, userID: fields[0], subjectID: fields[1],
                    occurredAt: EventTimestamp(millisecondsSinceEpoch: seconds * 1000), payload: .vote(optionID: fields[2])
                ))
            }
        }
        guard !interactions.isEmpty else { throw DatasetFileError(file: file, line: 0, "no interactions") }
        return Events(dataset: dataset, catalog: [], interactions: interactions)
    }

    /// A held-out split of a dataset's interactions, for measuring served quality on data the model never
    /// saw: per user, the latest `fraction` of their interactions (impressions aside: they say nothing of
    /// taste) is held out; the rest, impressions included, stays to be loaded. Both parts are also written
    /// as `user<TAB>item<TAB>rating<TAB>timestamp` text in the external-scoring contract of `trainer
    /// evaluate`: a positive (an implicit strength of at least 1: a vote, a share, a like, a rating ≥ 4) is
    /// 5, any other interaction 2, so the same files score both the served model and `trainer evaluate`.
    public struct HeldOut: Sendable {
        public var kept: [Event]
        public var trainText: String
        public var testText: String
    }

    public static func holdOutLatest(_ interactions: [Event], fraction: Double) -> HeldOut {
        var byUser: [String: [Int]] = [:]
        for (index, event) in interactions.enumerated() where event.type != .pollImpression {
            byUser[event.userID, default: []].append(index)
        }
        var heldOut = Set<Int>()
        for indices in byUser.values {
            let ordered = indices.sorted { (interactions[$0].occurredAt, interactions[$0].subjectID) < (interactions[$1].occurredAt, interactions[$1].subjectID) }
            var count = Int((Double(ordered.count) * fraction).rounded())
            count = ordered.count >= 2 ? min(max(count, 1), ordered.count - 1) : 0
            heldOut.formUnion(ordered.suffix(count))
        }
        func line(_ event: Event) -> String {
            var value: Double?
            if case .rating(let rating) = event.payload { value = rating }
            let row = TrainingRow(user: event.userID, item: event.subjectID, type: event.type.rawValue, value: value, time: 0)
            let positive = (ImplicitStrength.of(type: row.type, value: row.value) ?? 0) >= 1
            return "\(event.userID)\t\(event.subjectID)\t\(positive ? 5 : 2)\t\(event.occurredAt.millisecondsSinceEpoch / 1000)\n"
        }
        var kept: [Event] = []
        var trainText = "", testText = ""
        for (index, event) in interactions.enumerated() {
            if heldOut.contains(index) {
                testText += line(event)
            } else {
                kept.append(event)
                if event.type != .pollImpression { trainText += line(event) }
            }
        }
        return HeldOut(kept: kept, trainText: trainText, testText: testText)
    }

    /// The synthetic movies (``SyntheticMovies``) as a MovieLens dataset named after their size and seed, so
    /// that two sizes loaded into one store never share an event id.
    public static func events(movies data: SyntheticMovies) -> Events {
        let c = data.configuration
        return events(dataset: "synthetic-movies-\(c.seed)-\(c.users)u-\(c.items)i-\(c.events)e", movies: data.movies, ratings: data.ratings)
    }

    public static func events(polls data: SyntheticPolls) -> Events {
        let dataset = "synthetic-polls-\(data.configuration.seed)"
        let created = EventTimestamp(millisecondsSinceEpoch: (data.configuration.end - Int64(data.configuration.spanDays + 1) * 86_400) * 1000)
        let catalog = data.polls.map { poll in
            Event(
                eventID: eventID(dataset, "poll.created", poll.id), type: .pollCreated, userID: poll.author, subjectID: poll.id, occurredAt: created,
                payload: .pollCreated(PollDetails(
                    question: poll.question, options: poll.options.map { PollOption(id: $0, text: "Option \($0.dropFirst())") },
                    category: poll.category, author: poll.author
                ))
            )
        }
        let interactions = data.interactions.map { interaction in
            Event(
                eventID: eventID(dataset, interaction.user, interaction.poll, interaction.kind.rawValue, String(interaction.timestamp)),
                type: EventType(rawValue: interaction.kind.rawValue)!, userID: interaction.user, subjectID: interaction.poll,
                occurredAt: EventTimestamp(millisecondsSinceEpoch: interaction.timestamp * 1000),
                payload: interaction.option.map { .vote(optionID: $0) } ?? .none
            )
        }
        return Events(dataset: dataset, catalog: catalog, interactions: interactions)
    }

    /// Writes the events straight into the catalog tables and the training store. Returns how many
    /// interactions were new.
    public func load(_ events: Events, progress: (Int, Int) -> Void = { _, _ in }) async throws -> Int {
        try await store.upsertCatalog(events.catalog)
        let stored = events.interactions.enumerated().map { index, event in
            FeatureEvent(event: event, position: RecordPosition(topic: "bootstrap:\(events.dataset)", partition: 0, offset: Int64(index)), groups: [])
        }
        return try await append(stored, progress: progress)
    }

    public func load(dataset: String, movies: [MovieRecord], ratings: [RatingRecord], progress: (Int, Int) -> Void = { _, _ in }) async throws -> Int {
        try await load(Self.events(dataset: dataset, movies: movies, ratings: ratings), progress: progress)
    }

    public func load(polls data: SyntheticPolls, progress: (Int, Int) -> Void = { _, _ in }) async throws -> Int {
        try await load(Self.events(polls: data), progress: progress)
    }

    private func append(_ events: [FeatureEvent], progress: (Int, Int) -> Void) async throws -> Int {
        var stored = 0
        for start in stride(from: 0, to: events.count, by: 20_000) {
            stored += try await store.append(Array(events[start..<min(events.count, start + 20_000)]))
            progress(min(events.count, start + 20_000), events.count)
        }
        return stored
    }

    /// A UUID (version 8, "custom") from the SHA-256 of the parts: the same row always gets the same id.
    static func eventID(_ parts: String...) -> String {
        var digest = SHA256.hash(Array(parts.joined(separator: "\u{1F}").utf8))
        digest[6] = (digest[6] & 0x0F) | 0x80
        digest[8] = (digest[8] & 0x3F) | 0x80
        let hex = SHA256.hex(Array(digest[0..<16]))
        let characters = Array(hex)
        return String(characters[0..<8]) + "-" + String(characters[8..<12]) + "-" + String(characters[12..<16]) + "-"
            + String(characters[16..<20]) + "-" + String(characters[20..<32])
    }
}
