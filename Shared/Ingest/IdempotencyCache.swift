import Synchronization

/// Remembers the outcome of recently accepted events by `event_id`, so a client retrying an event it
/// already sent (say, after a timeout on its side) gets the same answer and the event is not written
/// twice. Bounded: the oldest entries are forgotten first. Beyond its reach a retry is written again,
/// and consumers drop the duplicate by `event_id` (the processor applies events idempotently).
public final class IdempotencyCache: Sendable {
    public struct Entry: Sendable, Hashable {
        /// Digest of the accepted event's canonical JSON: a retry must carry the same event. A digest, not
        /// the payload, keeps the cache's memory bounded by its entry count (about 100 bytes an entry).
        public var payload: PayloadDigest
        public var topic: String
        public var partition: Int32
        public var offset: Int64
    }

    /// An event id as a map key: a canonical UUID (every id the validator lets through) as its 128 bits,
    /// hashing two words instead of a 36-character heap string per lookup, insert and eviction; any
    /// other text as itself (`text` is nil for UUIDs, so the two kinds never compare equal).
    struct Key: Hashable {
        var high: UInt64
        var low: UInt64
        var text: String?

        init(_ eventID: String) {
            if let parsed = eventID.utf8.withContiguousStorageIfAvailable(Self.parseUUID), let words = parsed {
                (high, low, text) = (words.0, words.1, nil)
            } else {
                (high, low, text) = (0, 0, eventID)
            }
        }

        /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower-case hex (what the validator lets through).
        private static func parseUUID(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
            guard bytes.count == 36 else { return nil }
            var words: (UInt64, UInt64) = (0, 0)
            var nibbles = 0
            for (position, byte) in bytes.enumerated() {
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard byte == UInt8(ascii: "-") else { return nil }
                    continue
                }
                let value: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
                default: return nil
                }
                if nibbles < 16 { words.0 = words.0 << 4 | UInt64(value) } else { words.1 = words.1 << 4 | UInt64(value) }
                nibbles += 1
            }
            return words
        }
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Insertion order for eviction; a ring of keys.
        var order: [Key] = []
        var next = 0

        mutating func remember(_ key: Key, _ entry: Entry, capacity: Int) {
            // An id remembered again keeps its place in the eviction order.
            guard entries.updateValue(entry, forKey: key) == nil else { return }
            if order.count < capacity {
                order.append(key)
            } else {
                entries[order[next]] = nil
                order[next] = key
                next = (next + 1) % capacity
            }
        }
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public func lookup(_ eventID: String) -> Entry? {
        guard capacity > 0 else { return nil }
        let key = Key(eventID)
        return state.withLock { $0.entries[key] }
    }

    /// The entries of several ids, under one lock (a batch request's events).
    public func lookup(_ eventIDs: [String]) -> [Entry?] {
        lookup(keys: eventIDs.map(Key.init))
    }

    /// As ``lookup(_:)-([String])``, for callers that made the keys already (the gateway makes each event's
    /// key once, for this, for its in-request duplicate check and for ``remember(keyed:)``).
    func lookup(keys: [Key]) -> [Entry?] {
        guard capacity > 0 else { return Array(repeating: nil, count: keys.count) }
        return state.withLock { state in keys.map { state.entries[$0] } }
    }

    public func remember(_ eventID: String, _ entry: Entry) {
        remember(keyed: [(Key(eventID), entry)])
    }

    /// Remembers several outcomes under one lock.
    public func remember(_ outcomes: [(eventID: String, entry: Entry)]) {
        remember(keyed: outcomes.map { (Key($0.eventID), $0.entry) })
    }

    func remember(keyed outcomes: [(key: Key, entry: Entry)]) {
        guard capacity > 0, !outcomes.isEmpty else { return }
        let capacity = capacity
        state.withLock { state in
            for (key, entry) in outcomes { state.remember(key, entry, capacity: capacity) }
        }
    }

    public var count: Int { state.withLock { $0.entries.count } }
}

/// A 128-bit keyed digest of an event's canonical JSON: two SipHash-1-3 runs (Swift's `Hasher`, seeded
/// randomly per process) with different salts. Outsiders cannot aim for collisions without the process's
/// seed, and the cache lives only as long as the process.
public struct PayloadDigest: Sendable, Hashable {
    public let high: Int
    public let low: Int

    public init(_ bytes: [UInt8]) {
        var first = Hasher()
        first.combine(0x5354_5245_414D_5245 as UInt64)
        bytes.withUnsafeBytes { first.combine(bytes: $0) }
        var second = Hasher()
        second.combine(0x4944_454D_504F_5445 as UInt64)
        bytes.withUnsafeBytes { second.combine(bytes: $0) }
        high = first.finalize()
        low = second.finalize()
    }
}
