import Events
import Kafka
import Synchronization

/// Remembers the outcome of recently accepted events by `event_id`, so a client retrying an event it
/// already sent (say, after a timeout on its side) gets the same answer and the event is not written
/// twice. Bounded: the oldest entries are forgotten first. Beyond its reach a retry is written again,
/// and consumers drop the duplicate by `event_id` (the processor applies events idempotently).
///
/// It also knows which ids are being published right now (``claim(_:)`` to ``settle(_:)``): a second
/// request with the same id, arriving before the broker answered the first, waits for the first's outcome
/// instead of writing the event again.
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
            // Lower-case only, as the validator lets ids through: an upper-case spelling stays text.
            if let words = EventID.bits(of: eventID, acceptingUpperCase: false) {
                (high, low, text) = (words.high, words.low, nil)
            } else {
                (high, low, text) = (0, 0, eventID)
            }
        }
    }

    /// What the table keeps of an entry: the topic as an index into `State.topics`, so a slot holds no
    /// reference (nothing to retain or release when entries are copied, evicted or compared).
    private struct Record {
        var payload: PayloadDigest
        var offset: Int64
        var partition: Int32
        var topic: Int32
    }

    /// What a request finds for an event id it is about to publish (``claim(_:)``).
    enum Claim: Sendable {
        /// Neither known nor being published: this request publishes it, then must ``settle(_:)`` it.
        case claimed
        /// Accepted before with the same payload: a replay.
        case accepted(Entry)
        /// Being published by another request, with the same payload: wait for that outcome.
        case publishing(Publication)
        /// Accepted before, or being published, with a different payload.
        case conflict
    }

    /// The outcome of one request's publication of an id, for the requests that came with the same event
    /// while it was under way. Made only once a second request waits: most ids never meet one.
    final class Publication: Sendable {
        private struct State {
            var result: Result<Entry, KafkaError>?
            var waiters: [CheckedContinuation<Result<Entry, KafkaError>, Never>] = []
        }

        private let state = Mutex(State())

        /// The publication's result, as soon as the publishing request settled it.
        func outcome() async -> Result<Entry, KafkaError> {
            await withCheckedContinuation { continuation in
                let settled = state.withLock { state -> Result<Entry, KafkaError>? in
                    if let result = state.result { return result }
                    state.waiters.append(continuation)
                    return nil
                }
                if let settled { continuation.resume(returning: settled) }
            }
        }

        fileprivate func resolve(_ result: Result<Entry, KafkaError>) {
            let waiters = state.withLock { state -> [CheckedContinuation<Result<Entry, KafkaError>, Never>] in
                state.result = result
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: result) }
        }
    }

    /// An id claimed by a request and not yet settled.
    private struct InFlight {
        var payload: PayloadDigest
        var publication: Publication?
    }

    /// A bounded insertion-ordered map built for this one job. With Swift's `Dictionary` (a 40-byte key,
    /// a 48-byte value holding a `String`, SipHash per probe) each lookup hashes the whole key and misses
    /// the cache in a table of tens of megabytes, once per event of every batch. Here
    /// the lookup touches one 8-byte slot of an index (2 MiB at the default 100 000 entries); keys and
    /// records sit in a ring in insertion order, which is also the eviction order.
    private struct State {
        /// Open addressing, linear probing, a power of two at least twice the capacity. A slot is 0 when
        /// empty, else the ring position + 1 in its low 32 bits and the upper half of the key's hash
        /// (a fingerprint: most mismatches are told apart without touching the ring).
        var index: [UInt64]
        var keys: [Key] = []
        var records: [Record] = []
        /// The next ring position to overwrite once the ring is full (the oldest entry).
        var next = 0
        var topics: [String] = []
        let seeds: (UInt64, UInt64)
        /// Ids being published (claimed, not settled): as many as events in flight to the broker.
        var inFlight: [Key: InFlight] = [:]

        init(capacity: Int) {
            var size = 8
            while size < 2 * capacity { size <<= 1 }
            index = Array(repeating: 0, count: capacity > 0 ? size : 0)
            var random = SystemRandomNumberGenerator()
            seeds = (random.next(), random.next())
        }

        /// A hash keyed with this process's random seeds: clients choose event ids, so they must not be
        /// able to aim many ids at one slot. UUID words go through a 128-bit multiply-fold of the words
        /// xored with the seeds (as in wyhash); other ids through the standard library's seeded SipHash.
        func hash(_ key: Key) -> UInt64 {
            if let text = key.text {
                var hasher = Hasher()
                hasher.combine(text)
                return UInt64(bitPattern: Int64(hasher.finalize()))
            }
            let first = (key.high ^ seeds.0).multipliedFullWidth(by: key.low ^ seeds.1)
            let second = (first.high ^ seeds.1).multipliedFullWidth(by: first.low ^ 0x9E37_79B9_7F4A_7C15)
            return second.high ^ second.low
        }

        /// The slot holding `key`, or the empty slot where it would go.
        func find(_ key: Key, hash: UInt64) -> (slot: Int, found: Bool) {
            let mask = index.count - 1
            let fingerprint = hash >> 32
            var slot = Int(truncatingIfNeeded: hash) & mask
            while true {
                let value = index[slot]
                if value == 0 { return (slot, false) }
                if value >> 32 == fingerprint, keys[Int(value & 0xFFFF_FFFF) - 1] == key { return (slot, true) }
                slot = (slot + 1) & mask
            }
        }

        func lookup(_ key: Key) -> Entry? {
            let (slot, found) = find(key, hash: hash(key))
            guard found else { return nil }
            let record = records[Int(index[slot] & 0xFFFF_FFFF) - 1]
            return Entry(payload: record.payload, topic: topics[Int(record.topic)], partition: record.partition, offset: record.offset)
        }

        mutating func remember(_ key: Key, _ entry: Entry, capacity: Int) {
            let topic: Int32
            if let known = topics.firstIndex(of: entry.topic) {
                topic = Int32(known)
            } else {
                topic = Int32(topics.count)
                topics.append(entry.topic)
            }
            let record = Record(payload: entry.payload, offset: entry.offset, partition: entry.partition, topic: topic)
            let keyHash = hash(key)
            var (slot, found) = find(key, hash: keyHash)
            // An id remembered again keeps its place in the eviction order.
            if found {
                records[Int(index[slot] & 0xFFFF_FFFF) - 1] = record
                return
            }
            let position: Int
            if keys.count < capacity {
                position = keys.count
                keys.append(key)
                records.append(record)
            } else {
                position = next
                next = (next + 1) % capacity
                delete(keys[position])
                keys[position] = key
                records[position] = record
                // The deletion may have moved slots: look for the free one again.
                slot = find(key, hash: keyHash).slot
            }
            index[slot] = (keyHash >> 32) << 32 | UInt64(position + 1)
        }

        /// Removes `key` from the index, shifting later members of its probe run back into the hole
        /// (no tombstones, so probe runs stay as short as the load allows).
        private mutating func delete(_ key: Key) {
            var (hole, found) = find(key, hash: hash(key))
            guard found else { return }
            let mask = index.count - 1
            var slot = hole
            while true {
                slot = (slot + 1) & mask
                let value = index[slot]
                if value == 0 { break }
                let home = Int(truncatingIfNeeded: hash(keys[Int(value & 0xFFFF_FFFF) - 1])) & mask
                // Move the member back if its home is not within (hole, slot], cyclically.
                let homeIsBetween = hole <= slot ? (hole < home && home <= slot) : (hole < home || home <= slot)
                if !homeIsBetween {
                    index[hole] = value
                    hole = slot
                }
            }
            index[hole] = 0
        }
    }

    public let capacity: Int
    private let state: Mutex<State>

    public init(capacity: Int) {
        precondition(capacity < Int(Int32.max), "an idempotency cache holds fewer than 2^31 entries")
        self.capacity = max(0, capacity)
        state = Mutex(State(capacity: max(0, capacity)))
    }

    public func lookup(_ eventID: String) -> Entry? {
        guard capacity > 0 else { return nil }
        let key = Key(eventID)
        return state.withLock { $0.lookup(key) }
    }

    /// The entries of several ids, under one lock (a batch request's events).
    public func lookup(_ eventIDs: [String]) -> [Entry?] {
        lookup(keys: eventIDs.map(Key.init))
    }

    /// As ``lookup(_:)-([String])``, for callers that made the keys already (the gateway makes each event's
    /// key once, for this, for its in-request duplicate check and for ``remember(keyed:)``).
    func lookup(keys: [Key]) -> [Entry?] {
        guard capacity > 0 else { return Array(repeating: nil, count: keys.count) }
        return state.withLock { state in keys.map { state.lookup($0) } }
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

    /// For each event of a request (each id once: the caller handles repeats within the request), under
    /// one lock: accepted before, being published by another request, or now claimed by this one. Looked
    /// up and claimed in one step, so of two requests racing with a new id exactly one publishes it.
    func claim(_ events: [(key: Key, payload: PayloadDigest)]) -> [Claim] {
        guard !events.isEmpty else { return [] }
        let remembers = capacity > 0
        return state.withLock { state in
            events.map { event -> Claim in
                if remembers, let entry = state.lookup(event.key) {
                    return entry.payload == event.payload ? .accepted(entry) : .conflict
                }
                if let pending = state.inFlight[event.key] {
                    guard pending.payload == event.payload else { return .conflict }
                    if let publication = pending.publication { return .publishing(publication) }
                    let publication = Publication()
                    state.inFlight[event.key]?.publication = publication
                    return .publishing(publication)
                }
                state.inFlight[event.key] = InFlight(payload: event.payload, publication: nil)
                return .claimed
            }
        }
    }

    /// Ends claims made by ``claim(_:)``, under one lock: a published id is remembered, a failed one is
    /// released, so a retry publishes it again (a failure is no answer to remember: the client retries
    /// with the same id, and a broker that is back accepts it). Requests waiting on an id get its result.
    func settle(_ outcomes: [(key: Key, result: Result<Entry, KafkaError>)]) {
        guard !outcomes.isEmpty else { return }
        let capacity = capacity
        let waiting = state.withLock { state -> [(Publication, Result<Entry, KafkaError>)] in
            var waiting: [(Publication, Result<Entry, KafkaError>)] = []
            for (key, result) in outcomes {
                // Remembered before the claim is dropped: a request arriving now finds the id one way or the other.
                if capacity > 0, case .success(let entry) = result { state.remember(key, entry, capacity: capacity) }
                if let publication = state.inFlight.removeValue(forKey: key)?.publication { waiting.append((publication, result)) }
            }
            return waiting
        }
        for (publication, result) in waiting { publication.resolve(result) }
    }

    /// Ids claimed and not yet settled.
    var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    public var count: Int { state.withLock { $0.keys.count } }
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
