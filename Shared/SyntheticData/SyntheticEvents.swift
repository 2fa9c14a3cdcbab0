import Events

/// Deterministic event streams for tests and benchmarks: catalog events, then a mix of every
/// interaction type, with some producer-side duplicates (the same event again).
public enum SyntheticEvents {
    /// How interaction types and items are drawn.
    public enum Mix: Sendable {
        /// Every type equally often, items uniformly: exercises every code path evenly (tests).
        case uniform
        /// Mostly views and impressions, fewer ratings and votes, rare shares; item popularity skewed
        /// (a few items get most events), as in a live product (benchmarks).
        case realistic
    }

    public static let genres = ["Action", "Comedy", "Drama", "War", "Sci-Fi"]

    /// `movie.added` for m0..<movies and `poll.created` for p0..<polls, at `now − 3 days`.
    public static func catalog(movies: Int, polls: Int, now: Int64, seed: UInt64 = 1) -> [Event] {
        var random = SplitMix(seed)
        let time = EventTimestamp(millisecondsSinceEpoch: now - 3 * 86_400_000)
        let movieEvents = (0..<movies).map { index in
            let genres = Array(Set([genres[random.next(genres.count)], genres[random.next(genres.count)]])).sorted()
            return Event(
                eventID: EventID.random(), type: .movieAdded, userID: "catalog", subjectID: "m\(index)", occurredAt: time,
                payload: .movieAdded(MovieDetails(title: "Movie \(index)", year: 1990 + index % 30, genres: genres))
            )
        }
        let pollEvents = (0..<polls).map { index in
            Event(
                eventID: EventID.random(), type: .pollCreated, userID: "catalog", subjectID: "p\(index)", occurredAt: time,
                payload: .pollCreated(PollDetails(
                    question: "Question \(index)?", options: (0..<4).map { PollOption(id: "o\($0)", text: "Option \($0)") },
                    category: "category-\(index % 3)", author: "author-\(index % 5)"
                ))
            )
        }
        return movieEvents + pollEvents
    }

    /// `count` interactions within `span` milliseconds before `now` (two days by default). About 1 %
    /// repeat an earlier event of the same user (same event id), as a producer retry would.
    public static func interactions(
        count: Int, users: Int = 200, movies: Int = 50, polls: Int = 20, now: Int64, span: Int64 = 2 * 86_400_000,
        mix: Mix = .uniform, seed: UInt64
    ) -> [Event] {
        var random = SplitMix(seed)
        var events: [Event] = []
        var lastByUser: [String: Event] = [:]
        events.reserveCapacity(count)
        for index in 0..<count {
            let user = "user-\(random.next(users))"
            if index % 97 == 96, let earlier = lastByUser[user] {
                events.append(earlier)
                continue
            }
            let time = now - Int64(random.next(Int(span)))
            let movie = "m\(random.next(movies, skewed: mix == .realistic))"
            let poll = "p\(random.next(polls, skewed: mix == .realistic))"
            func make(_ type: EventType, _ subject: String, _ payload: EventPayload = .none) -> Event {
                Event(eventID: EventID.random(), type: type, userID: user, subjectID: subject, occurredAt: EventTimestamp(millisecondsSinceEpoch: time), payload: payload)
            }
            let event: Event
            switch mix == .uniform ? random.next(8) : realisticType(random.next(100)) {
            case 0: event = make(.movieRating, movie, .rating(Double(1 + random.next(10)) / 2))
            case 1: event = make(.movieLike, movie)
            case 2: event = make(.movieDislike, movie)
            case 3: event = make(.movieView, movie, .view(watchSeconds: Double(random.next(7200))))
            case 4: event = make(.pollVote, poll, .vote(optionID: "o\(random.next(4))"))
            case 5: event = make(.pollImpression, poll)
            case 6: event = make(.pollShare, poll)
            default: event = make(.pollExpand, poll)
            }
            lastByUser[user] = event
            events.append(event)
        }
        return events
    }
}

/// The realistic mix, as the uniform mix's type numbers: views 30 %, ratings 15 %, likes 10 %, dislikes
/// 3 %, impressions 25 %, votes 13 %, expands 2 %, shares 2 %.
private func realisticType(_ percentile: Int) -> Int {
    switch percentile {
    case 0..<15: 0
    case 15..<25: 1
    case 25..<28: 2
    case 28..<58: 3
    case 58..<71: 4
    case 71..<96: 5
    case 96..<98: 6
    default: 7
    }
}

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
public struct SplitMix: RandomNumberGenerator {
    private var state: UInt64

    public init(_ seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// Skewed towards 0 (the cube of a uniform draw): index 0..<bound/10 gets about 46 % of draws.
    public mutating func next(_ bound: Int, skewed: Bool) -> Int {
        guard skewed else { return next(bound) }
        let uniform = Double(next() >> 11) / Double(1 << 53)
        return min(bound - 1, Int(uniform * uniform * uniform * Double(bound)))
    }
}
