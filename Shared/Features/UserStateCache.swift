import Synchronization

/// The user states a feature writer applied last, by Redis key, so that a user met again in a later batch
/// costs no read. Only a cache: it is valid while this member is the only writer of those users (it owns
/// their partitions), and is emptied after a rebalance and whenever a write may not have landed.
/// Bounded: past `capacity` entries, the least recently stored tenth is dropped.
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

    /// Removes and returns the cached states among `keys`: the caller owns them until it stores them
    /// back (a state shared with the cache would copy its collections on the first change).
    /// Only states `usable` accepts are returned; the others are dropped (read again).
    func take(_ keys: some Sequence<String>, where usable: (UserFeatureState) -> Bool = { _ in true }) -> [String: UserFeatureState] {
        storage.withLock { storage in
            var found: [String: UserFeatureState] = [:]
            for key in keys {
                if let entry = storage.entries.removeValue(forKey: key), usable(entry.state) { found[key] = entry.state }
            }
            return found
        }
    }

    /// Stores states as written to Redis: those of `states` whose key `keep` accepts (no intermediate
    /// dictionary: copying one retains every state's collections).
    func store(_ states: [String: UserFeatureState], keeping keep: (String) -> Bool = { _ in true }) {
        guard capacity > 0 else { return }
        storage.withLock { storage in
            storage.tick += 1
            for (key, state) in states where keep(key) { storage.entries[key] = Entry(state: state, lastUsed: storage.tick) }
            if storage.entries.count > capacity {
                // Sorting the ticks is O(n log n), paid once per tenth of the capacity inserted.
                let keep = capacity - capacity / 10
                let kept = storage.entries.sorted { $0.value.lastUsed > $1.value.lastUsed }.prefix(keep)
                storage.entries = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
            }
        }
    }

    func removeAll() {
        storage.withLock { $0.entries.removeAll() }
    }
}
