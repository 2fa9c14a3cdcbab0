#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The two event domains. Each has its own Kafka topic.
///
/// Spelled two ways on purpose, both fixed by contract: `rawValue` ("movie", "poll") is the events' own
/// prefix (`movie.rating`), the `interactions.domain` column and the Redis keys' part; `name` ("movies",
/// "polls") is what the API (`domain=`), the trainer (`--domain`), the model registry and the artifacts'
/// directories say. Converting between them happens only here.
public enum EventDomain: String, Sendable, Hashable, CaseIterable {
    case movie
    case poll

    /// The domain as the API, the trainer's command line, the model registry and artifacts spell it.
    public var name: String {
        switch self {
        case .movie: "movies"
        case .poll: "polls"
        }
    }

    /// The domain `name` spells ("movies", "polls"); nil for anything else.
    public init?(name: String) {
        guard let domain = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = domain
    }

    /// The field holding the domain's subject id.
    public var subjectField: String {
        switch self {
        case .movie: "item_id"
        case .poll: "poll_id"
        }
    }
}

/// Every event type of contract v1.
public enum EventType: String, Sendable, Hashable, CaseIterable {
    case movieRating = "movie.rating"
    case movieLike = "movie.like"
    case movieDislike = "movie.dislike"
    case movieView = "movie.view"
    case movieAdded = "movie.added"
    case pollImpression = "poll.impression"
    case pollExpand = "poll.expand"
    case pollVote = "poll.vote"
    case pollShare = "poll.share"
    case pollCreated = "poll.created"

    public var domain: EventDomain {
        rawValue.hasPrefix("movie.") ? .movie : .poll
    }

    /// Catalog events describe items (a new movie, a new poll) rather than a user's interaction.
    public var isCatalog: Bool { self == .movieAdded || self == .pollCreated }
}

/// Milliseconds since the Unix epoch, UTC. The contract's time resolution.
public struct EventTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch }

    /// RFC 3339 in UTC with milliseconds: `2026-11-21T20:36:18.123Z`.
    public var description: String { RFC3339.format(self) }
}

public struct MovieDetails: Sendable, Hashable {
    public var title: String
    public var year: Int?
    public var genres: [String]

    public init(title: String, year: Int?, genres: [String]) {
        self.title = title
        self.year = year
        self.genres = genres
    }
}

public struct PollOption: Sendable, Hashable {
    public var id: String
    public var text: String

    public init(id: String, text: String) {
        self.id = id
        self.text = text
    }
}

public struct PollDetails: Sendable, Hashable {
    public var question: String
    public var options: [PollOption]
    public var category: String
    public var author: String?

    public init(question: String, options: [PollOption], category: String, author: String?) {
        self.question = question
        self.options = options
        self.category = category
        self.author = author
    }
}

/// What an event carries beyond the common fields, by type.
public enum EventPayload: Sendable, Hashable {
    /// like, dislike, impression, expand, share
    case none
    /// `movie.rating`: 0.5 to 5.0 in steps of 0.5
    case rating(Double)
    /// `movie.view`: optional watch time in seconds
    case view(watchSeconds: Double?)
    /// `poll.vote`: the chosen option
    case vote(optionID: String)
    case movieAdded(MovieDetails)
    case pollCreated(PollDetails)
}

/// Where the interaction happened. Every field optional.
public struct EventContext: Sendable, Hashable {
    public var device: String?
    /// ISO 3166-1 alpha-2, upper case.
    public var country: String?
    public var session: String?

    public init(device: String? = nil, country: String? = nil, session: String? = nil) {
        self.device = device
        self.country = country
        self.session = session
    }
}

/// One validated event of contract v1.
public struct Event: Sendable, Hashable {
    /// Schema version written in the `schema-version` header and implied by the topic contract.
    public static let schemaVersion = "1"

    /// Lower-case UUID. Client-supplied for idempotent retries, or assigned by the gateway.
    public var eventID: String
    public var type: EventType
    /// The acting user; also the Kafka key, so one user's events stay ordered.
    public var userID: String
    /// `item_id` for movie events, `poll_id` for poll events.
    public var subjectID: String
    public var occurredAt: EventTimestamp
    public var payload: EventPayload
    public var context: EventContext?
    /// The recommendation answer the interaction came from (its `recommendation_id`, a lower-case UUID), and
    /// the item's position in it (1 = first): optional attribution (docs/events.md, Attribution).
    public var recommendationID: String?
    public var position: Int?
    /// Unknown top-level fields, kept only when the validator runs in pass-through mode.
    public var extraFields: [String: JSONValue]

    public init(
        eventID: String, type: EventType, userID: String, subjectID: String, occurredAt: EventTimestamp,
        payload: EventPayload = .none, context: EventContext? = nil, extraFields: [String: JSONValue] = [:],
        recommendationID: String? = nil, position: Int? = nil
    ) {
        self.recommendationID = recommendationID
        self.position = position
        self.eventID = eventID
        self.type = type
        self.userID = userID
        self.subjectID = subjectID
        self.occurredAt = occurredAt
        self.payload = payload
        self.context = context
        self.extraFields = extraFields
    }

    public var domain: EventDomain { type.domain }
}

/// Random (version 4) UUIDs, lower-case, from the kernel's CSPRNG. Foundation's `UUID()` reads a device
/// file on Linux, and even one `getrandom` per id is a system call for every event ingested, so random
/// bytes are fetched 4 KiB at a time and handed out 16 bytes per id.
public enum EventID {
    private static let pool = RandomPool()

    public static func random() -> String {
        var (high, low) = pool.next128()
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { buffer in
            let digits: StaticString = "0123456789abcdef"
            // 8-4-4-4-12: dashes after hex digits 8, 12, 16 and 20.
            var position = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = nibble < 16 ? high : low
                let shift = UInt64((15 - nibble % 16) * 4)
                buffer[position] = digits.utf8Start[Int((word >> shift) & 0xF)]
                position += 1
            }
            return position
        }
    }

    /// The 128 bits of a UUID in its canonical text form (8-4-4-4-12 hex digits, lower-case, or either case
    /// when `acceptingUpperCase`), most significant half first; nil for anything else. Foundation's
    /// `UUID(uuidString:)` parses with `sscanf`, which was a visible part of the processor's profile: one
    /// parse per event stored.
    public static func bits(of text: String, acceptingUpperCase: Bool = true) -> (high: UInt64, low: UInt64)? {
        if let parsed = text.utf8.withContiguousStorageIfAvailable({ bits(ofUTF8: $0, acceptingUpperCase: acceptingUpperCase) }) { return parsed }
        // A string not stored as contiguous UTF-8 (bridged): its bytes copied once.
        return Array(text.utf8).withUnsafeBufferPointer { bits(ofUTF8: $0, acceptingUpperCase: acceptingUpperCase) }
    }

    private static func bits(ofUTF8 bytes: UnsafeBufferPointer<UInt8>, acceptingUpperCase: Bool) -> (high: UInt64, low: UInt64)? {
        guard bytes.count == 36 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        var nibble = 0
        for (position, byte) in bytes.enumerated() {
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F") where acceptingUpperCase: value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if nibble < 16 { high = high << 4 | UInt64(value) } else { low = low << 4 | UInt64(value) }
            nibble += 1
        }
        return (high, low)
    }
}

/// Kernel randomness (`/dev/urandom`), buffered.
final class RandomPool: Sendable {
    private struct State {
        var buffer = [UInt64](repeating: 0, count: 512)
        var next = 512
    }

    private let state = Mutex(State())

    func next128() -> (UInt64, UInt64) {
        state.withLock { state in
            if state.next + 2 > state.buffer.count {
                // One read of the kernel's CSPRNG per 256 ids; the generator is the fallback.
                let filled = state.buffer.withUnsafeMutableBytes { raw -> Bool in
                    let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
                    guard descriptor >= 0 else { return false }
                    defer { close(descriptor) }
                    return read(descriptor, raw.baseAddress, raw.count) == raw.count
                }
                if !filled {
                    var generator = SystemRandomNumberGenerator()
                    for index in 0..<state.buffer.count { state.buffer[index] = generator.next() }
                }
                state.next = 0
            }
            defer { state.next += 2 }
            return (state.buffer[state.next], state.buffer[state.next + 1])
        }
    }
}
