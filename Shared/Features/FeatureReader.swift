import Events
import Redis

public struct ScoredItem: Sendable, Hashable {
    public var item: String
    public var score: Double

    public init(item: String, score: Double) {
        self.item = item
        self.score = score
    }
}

public struct HistoryEntry: Sendable, Hashable {
    public var item: String
    public var type: EventType
    /// In weights (not units): 1.0 for a like with the default weights.
    public var weight: Double
    public var occurredAt: EventTimestamp
    /// The event's id, decoded when asked: a recommendation reads up to hundreds of entries and needs none
    /// of their ids, so the entry keeps the member's bytes (shared, not copied) and where the id lies.
    public var eventID: String { String(decoding: member[eventIDRange], as: UTF8.self) }
    private let member: [UInt8]
    private let eventIDRange: Range<Int>

    init(item: String, type: EventType, weight: Double, occurredAt: EventTimestamp, member: [UInt8], eventIDRange: Range<Int>) {
        self.item = item
        self.type = type
        self.weight = weight
        self.occurredAt = occurredAt
        self.member = member
        self.eventIDRange = eventIDRange
    }
}

public struct PollTally: Sendable, Hashable {
    /// Option id → users whose current vote it is.
    public var options: [String: Int]
    public var totalVoters: Int

    public init(options: [String: Int], totalVoters: Int) {
        self.options = options
        self.totalVoters = totalVoters
    }
}

/// Reads the features the processor wrote, through the same key layout and window rules.
public struct FeatureReader: Sendable {
    public let configuration: FeatureConfiguration
    public let keys: FeatureKeys
    private let redis: RedisClient

    public init(configuration: FeatureConfiguration, redis: RedisClient) {
        self.configuration = configuration
        keys = FeatureKeys(prefix: configuration.keyPrefix)
        self.redis = redis
    }

    /// The writer of stated preferences over the same connection and key layout (the one feature the
    /// API writes).
    public var preferenceWriter: PreferenceWriter { PreferenceWriter(configuration: configuration, redis: redis) }

    /// Item → summed weight over a window at `now` (ms), over all items. The processor keeps no per-group
    /// buckets: a genre's or category's list is the all-items list filtered by the catalog, by the API
    /// (`RecommendationEngine`), which has the catalog.
    public func popularityScores(_ domain: EventDomain, window windowName: String, now: Int64) async throws(RedisError) -> [String: Double] {
        guard let window = configuration.window(named: windowName) else { throw .unexpectedReply("no window named \(windowName)") }
        return try Self.popularityScores(try await redis.send(popularityCommand(domain, window: window, now: now)))
    }

    private func popularityCommand(_ domain: EventDomain, window: PopularityWindow, now: Int64) -> RedisCommand {
        let bucketKeys = window.buckets(at: now).map { keys.popularityBucket(domain, window: window.name, bucket: $0) }
        // One slot ({pop:<domain>}), so ZUNION is valid on a cluster too.
        return RedisCommand("ZUNION", arguments: [bucketKeys.count] + bucketKeys + ["WITHSCORES"])
    }

    private static func popularityScores(_ reply: RedisValue) throws(RedisError) -> [String: Double] {
        if case .error(let message) = reply { throw .server(message) }
        guard let flat = reply.array, flat.count % 2 == 0 else { throw .unexpectedReply("ZUNION returned \(reply)") }
        var scores: [String: Double] = [:]
        scores.reserveCapacity(flat.count / 2)
        var index = 0
        while index < flat.count {
            guard let item = flat[index].string, let units = flat[index + 1].double else { throw .unexpectedReply("ZUNION item") }
            if units != 0 { scores[item] = EventWeights.weight(units) }
            index += 2
        }
        return scores
    }

    /// The `limit` highest-scoring items over a window, highest first (ties by item id).
    public func popular(_ domain: EventDomain, window: String, limit: Int, now: Int64) async throws(RedisError) -> [ScoredItem] {
        Self.top(try await popularityScores(domain, window: window, now: now), limit: limit)
    }

    /// Items rising now: rate over the short window divided by (rate over the long window + a prior
    /// rate of `trendingPrior` weight per long window). Only items with positive short-window weight.
    public func trending(_ domain: EventDomain, limit: Int, now: Int64) async throws(RedisError) -> [ScoredItem] {
        guard let short = configuration.window(named: configuration.trendingShortWindow),
            let long = configuration.window(named: configuration.trendingLongWindow)
        else { throw .unexpectedReply("trending windows are not configured windows") }
        // Both windows as of one instant (one transaction, one round trip): read one after the other, an
        // event applied in between would count in the short window only.
        let replies = try await redis.transaction([
            popularityCommand(domain, window: short, now: now), popularityCommand(domain, window: long, now: now),
        ])
        let shortScores = try Self.popularityScores(replies[0])
        let longScores = try Self.popularityScores(replies[1])
        var trending: [String: Double] = [:]
        for (item, weight) in shortScores where weight > 0 {
            trending[item] = Self.trendingScore(
                shortWeight: weight, shortMilliseconds: short.lengthMilliseconds,
                longWeight: max(0, longScores[item] ?? 0), longMilliseconds: long.lengthMilliseconds, prior: configuration.trendingPrior
            )
        }
        return Self.top(trending, limit: limit)
    }

    /// (short / shortLength) / ((long + prior) / longLength): 1 means "as usual", larger means rising.
    public static func trendingScore(shortWeight: Double, shortMilliseconds: Int64, longWeight: Double, longMilliseconds: Int64, prior: Double) -> Double {
        (shortWeight / Double(shortMilliseconds)) / ((longWeight + prior) / Double(longMilliseconds))
    }

    /// Most recent first; with `since`, only entries after that event time (ms).
    public func history(user: String, domain: EventDomain, limit: Int, since: Int64? = nil) async throws(RedisError) -> [HistoryEntry] {
        try Self.seenAndHistory(try await redis.send(RedisCommand("HGETALL", keys.userState(user, domain))), seen: false, historyLimit: limit, since: since).history
    }

    /// The seen-set (if asked) and the history in one round trip: what every recommendation reads. The
    /// seen items come as a list (each once): the caller maps them to what it needs without hashing each
    /// into a `Set<String>` first.
    public func seenAndHistory(
        user: String, domain: EventDomain, seen includeSeen: Bool, historyLimit: Int, since: Int64? = nil
    ) async throws(RedisError) -> (seen: [String], history: [HistoryEntry]) {
        let state = try await userState(user: user, domain: domain, seen: includeSeen, historyLimit: historyLimit, since: since, preferences: false)
        return (state.seen, state.history)
    }

    /// What a recommendation reads of a user, in one round trip: the seen-set, the history (newest first,
    /// since `since` if given), and the stated preferences (``preferences(user:domain:)``). The seen-set
    /// and the history are fields of one hash (``UserFeatureState``), read with one command.
    public func userState(
        user: String, domain: EventDomain, seen includeSeen: Bool, historyLimit: Int, since: Int64? = nil, preferences includePreferences: Bool
    ) async throws(RedisError) -> (seen: [String], history: [HistoryEntry], preferences: [String: Double]) {
        var commands: [RedisCommand] = []
        let readsState = includeSeen || historyLimit > 0
        if readsState { commands.append(RedisCommand("HGETALL", keys.userState(user, domain))) }
        if includePreferences { commands.append(RedisCommand("HGETALL", keys.userPreferences(user, domain))) }
        guard !commands.isEmpty else { return ([], [], [:]) }
        let replies = try await redis.pipeline(commands)
        let state: (seen: [String], history: [HistoryEntry]) = readsState ? try Self.seenAndHistory(replies[0], seen: includeSeen, historyLimit: historyLimit, since: since) : ([], [])
        let preferences = includePreferences ? try Self.numericHash(replies[replies.count - 1]) : [:]
        return (state.seen, state.history, preferences)
    }

    /// The genres (movies) or categories (polls) a user stated, with their weights; empty if none.
    public func preferences(user: String, domain: EventDomain) async throws(RedisError) -> [String: Double] {
        try await numericHash(keys.userPreferences(user, domain))
    }

    /// The seen items (`s:` fields) and the history entries (`h:` fields, newest first by event time, ties
    /// as a sorted set's reverse order) of a user state hash.
    static func seenAndHistory(_ reply: RedisValue, seen includeSeen: Bool, historyLimit: Int, since: Int64?) throws(RedisError) -> (seen: [String], history: [HistoryEntry]) {
        if case .error(let message) = reply { throw .server(message) }
        guard let flat = reply.array, flat.count % 2 == 0 else { throw .unexpectedReply("HGETALL returned \(reply)") }
        var seen: [String] = []
        var history: [(time: Int64, entry: HistoryEntry, member: [UInt8])] = []
        var index = 0
        let seenTag = UInt8(ascii: "s"), historyTag = UInt8(ascii: "h"), colon = UInt8(ascii: ":")
        while index < flat.count {
            defer { index += 2 }
            guard let field = flat[index].bytes, field.count >= 2, field[1] == colon else { continue }
            if field[0] == seenTag, includeSeen {
                seen.append(String(decoding: field[2...], as: UTF8.self))
            } else if field[0] == historyTag, historyLimit > 0 {
                guard let member = flat[index + 1].bytes else { throw .unexpectedReply("history entry \(flat[index + 1])") }
                // A trained user's entries from before training are most of the ring: skipped on their time alone.
                if let since, let time = Self.historyTime(member), time <= since { continue }
                guard let entry = Self.historyEntry(member) else { throw .unexpectedReply("history entry \(flat[index + 1])") }
                history.append((entry.occurredAt.millisecondsSinceEpoch, entry, member))
            }
        }
        history.sort { $0.time != $1.time ? $0.time > $1.time : $1.member.lexicographicallyPrecedes($0.member) }
        return (seen, history.prefix(max(0, historyLimit)).map(\.entry))
    }

    /// `time|type|item|units|event_id`; the item may contain '|', so the fields are found from both ends
    /// (on the hot path of every recommendation: parsed from the reply's bytes, no intermediate arrays; the
    /// numbers and the type are short enough to be strings without a heap allocation).
    static func historyEntry(_ bytes: [UInt8]) -> HistoryEntry? {
        let bar = UInt8(ascii: "|")
        guard let first = bytes.firstIndex(of: bar),
            let second = bytes[(first + 1)...].firstIndex(of: bar),
            let last = bytes.lastIndex(of: bar), last > second,
            let beforeLast = bytes[..<last].lastIndex(of: bar), beforeLast > second,
            let time = ASCIIDecimal.int64(bytes[..<first]),
            let type = EventType(rawValue: String(decoding: bytes[(first + 1)..<second], as: UTF8.self)),
            let units = ASCIIDecimal.int64(bytes[(beforeLast + 1)..<last]).map(Double.init) ?? Double(String(decoding: bytes[(beforeLast + 1)..<last], as: UTF8.self))
        else { return nil }
        return HistoryEntry(
            item: String(decoding: bytes[(second + 1)..<beforeLast], as: UTF8.self), type: type, weight: EventWeights.weight(units),
            occurredAt: EventTimestamp(millisecondsSinceEpoch: time), member: bytes, eventIDRange: (last + 1)..<bytes.count
        )
    }

    static func historyEntry(_ text: String) -> HistoryEntry? { historyEntry(Array(text.utf8)) }

    /// The event time of a history member (its first field), or nil if it is not a number.
    static func historyTime(_ bytes: [UInt8]) -> Int64? {
        bytes.firstIndex(of: UInt8(ascii: "|")).flatMap { ASCIIDecimal.int64(bytes[..<$0]) }
    }

    /// Every item the user interacted with in the domain (up to the seen limit).
    public func seen(user: String, domain: EventDomain) async throws(RedisError) -> Set<String> {
        Set(try Self.seenAndHistory(try await redis.send(RedisCommand("HGETALL", keys.userState(user, domain))), seen: true, historyLimit: 0, since: nil).seen)
    }

    /// Genre or category → summed weight.
    public func affinity(user: String, domain: EventDomain) async throws(RedisError) -> [String: Double] {
        let reply = try await redis.send(RedisCommand("HGETALL", keys.userState(user, domain)))
        guard let flat = reply.array, flat.count % 2 == 0 else { throw .unexpectedReply("HGETALL returned \(reply)") }
        var affinity: [String: Double] = [:]
        var index = 0
        while index < flat.count {
            defer { index += 2 }
            guard let field = flat[index].string, field.hasPrefix("a:") else { continue }
            guard let units = flat[index + 1].double else { throw .unexpectedReply("affinity \(flat[index + 1])") }
            affinity[String(field.dropFirst(2))] = EventWeights.weight(units)
        }
        return affinity
    }

    /// When the user last interacted (event time), if known: the newest of any domain.
    public func lastActive(user: String) async throws(RedisError) -> EventTimestamp? {
        // Every domain's `t` field in one round trip.
        let replies = try await redis.pipeline(EventDomain.allCases.map { RedisCommand("HGET", keys.userState(user, $0), "t") })
        var newest: Int64?
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
            if let time = reply.int { newest = max(newest ?? time, time) }
        }
        return newest.map { EventTimestamp(millisecondsSinceEpoch: $0) }
    }

    /// The per-option counts and the number of voters (their sum: each voter's current vote counts for
    /// one option), from one key that one script call changes at a time: they always add up.
    public func pollTally(_ poll: String) async throws(RedisError) -> PollTally {
        let options = try await numericHash(keys.pollTally(poll)).mapValues { Int($0) }
        return PollTally(options: options, totalVoters: options.values.reduce(0, +))
    }

    private func numericHash(_ key: String) async throws(RedisError) -> [String: Double] {
        try Self.numericHash(try await redis.send(RedisCommand("HGETALL", key)))
    }

    private static func numericHash(_ reply: RedisValue) throws(RedisError) -> [String: Double] {
        if case .error(let message) = reply { throw .server(message) }
        guard let flat = reply.array, flat.count % 2 == 0 else { throw .unexpectedReply("HGETALL returned \(reply)") }
        var result: [String: Double] = [:]
        var index = 0
        while index < flat.count {
            guard let field = flat[index].string, let value = flat[index + 1].double else { throw .unexpectedReply("HGETALL field") }
            result[field] = value
            index += 2
        }
        return result
    }

    static func top(_ scores: [String: Double], limit: Int) -> [ScoredItem] {
        scores.map { ScoredItem(item: $0.key, score: $0.value) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.item < $1.item }
            .prefix(max(0, limit)).map { $0 }
    }
}
