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

    private struct State {
        var entries: [String: Entry] = [:]
        /// Insertion order for eviction; a ring of event ids.
        var order: [String] = []
        var next = 0
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public func lookup(_ eventID: String) -> Entry? {
        guard capacity > 0 else { return nil }
        return state.withLock { $0.entries[eventID] }
    }

    public func remember(_ eventID: String, _ entry: Entry) {
        guard capacity > 0 else { return }
        state.withLock { state in
            if state.entries[eventID] != nil {
                state.entries[eventID] = entry
                return
            }
            if state.order.count < capacity {
                state.order.append(eventID)
            } else {
                state.entries[state.order[state.next]] = nil
                state.order[state.next] = eventID
                state.next = (state.next + 1) % capacity
            }
            state.entries[eventID] = entry
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
