import Events

/// Deterministic event streams for tests: catalog events, then a mix of every interaction type over
/// a few hundred users and dozens of items, with some producer-side duplicates (the same event again).
public enum SyntheticEvents {
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

    /// `count` interactions within the two days before `now`. About 1 % repeat an earlier event of
    /// the same user (same event id), as a producer retry would.
    public static func interactions(count: Int, users: Int = 200, movies: Int = 50, polls: Int = 20, now: Int64, seed: UInt64) -> [Event] {
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
            let time = now - Int64(random.next(2 * 86_400_000))
            let movie = "m\(random.next(movies))"
            let poll = "p\(random.next(polls))"
            func make(_ type: EventType, _ subject: String, _ payload: EventPayload = .none) -> Event {
                Event(eventID: EventID.random(), type: type, userID: user, subjectID: subject, occurredAt: EventTimestamp(millisecondsSinceEpoch: time), payload: payload)
            }
            let event: Event
            switch random.next(8) {
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

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
public struct SplitMix {
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
}
