import Synchronization

/// Remembers the outcome of recently accepted events by `event_id`, so a client retrying an event it
/// already sent (say, after a timeout on its side) gets the same answer and the event is not written
/// twice. Bounded: the oldest entries are forgotten first. Beyond its reach a retry is written again,
/// and consumers drop the duplicate by `event_id` (the processor applies events idempotently).
public final class IdempotencyCache: Sendable {
    public struct Entry: Sendable, Hashable {
        /// Canonical JSON of the accepted event: a retry must carry the same event.
        public var payload: [UInt8]
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
