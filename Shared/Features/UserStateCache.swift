import Synchronization

/// The user states a feature writer applied last, by Redis key, so that a user met again in a later batch
/// costs no read. Only a cache: it is valid while this member is the only writer of those users (it owns
/// their partitions), and is emptied after a rebalance and whenever a write may not have landed.
/// Bounded: past `capacity` entries, the least recently used tenth is dropped.
final class UserStateCache: Sendable {
    private struct Entry {
        var state: UserFeatureState
        var lastUsed: UInt64
    }

    private struct Storage {
        var entries: [String: Entry] = [:]
        var tick: UInt64 = 0
    }

    private let storage = Mutex(Storage())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    var count: Int { storage.withLock { $0.entries.count } }

    /// The cached states among `keys`.
    func states(for keys: some Sequence<String>) -> [String: UserFeatureState] {
        storage.withLock { storage in
            storage.tick += 1
            var found: [String: UserFeatureState] = [:]
            for key in keys {
                if let entry = storage.entries[key] {
                    found[key] = entry.state
                    storage.entries[key]!.lastUsed = storage.tick
                }
            }
            return found
        }
    }

    /// Stores states as written to Redis.
    func store(_ states: [String: UserFeatureState]) {
        guard capacity > 0 else { return }
        storage.withLock { storage in
            storage.tick += 1
            for (key, state) in states { storage.entries[key] = Entry(state: state, lastUsed: storage.tick) }
            if storage.entries.count > capacity {
                // Sorting the ticks is O(n log n), paid once per tenth of the capacity inserted.
                let keep = capacity - capacity / 10
                let cutoff = storage.entries.values.map(\.lastUsed).sorted(by: >)[keep - 1]
                storage.entries = storage.entries.filter { $0.value.lastUsed >= cutoff }
                if storage.entries.count > capacity { storage.entries.removeAll() }
            }
        }
    }

    func removeAll() {
        storage.withLock { $0.entries.removeAll() }
    }
}
