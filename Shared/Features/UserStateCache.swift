import Synchronization

/// One user's state in one domain as the feature writer holds it: in a box, so that the cache, a batch and
/// the shard computing it all reach the same state and change it in place (a state in a dictionary would be
/// copied out and stored back, each copy retaining every collection it holds).
///
/// `@unchecked Sendable`: a box is changed by one task at a time. The feature writer applies one batch at a
/// time, a batch's users are split between shards so that each box is in one shard, and the writer reads a
/// shard's boxes again only after that shard's task was awaited.
final class UserStateBox: @unchecked Sendable {
    var state: UserFeatureState
    /// An event of the current batch was applied to the state: it is written at the end of the batch.
    var touched = false
    /// The cache's clock when the box was last used (least recently used ones are dropped first).
    var lastUsed: UInt64 = 0

    init(_ state: UserFeatureState) {
        self.state = state
    }
}

/// The user states a feature writer applied last, by Redis key, so that a user met again in a later batch
/// costs no read. Only a cache: it is valid while this member is the only writer of those users (it owns
/// their partitions), and is emptied after a rebalance and whenever a write may not have landed. A batch
/// changes the cached states in place (``UserStateBox``): if its writes do not all land, the writer drops
/// them (``remove(_:)`` or ``removeAll()``).
/// Bounded: past `capacity` entries, the least recently used tenth is dropped.
final class UserStateCache: Sendable {
    private struct Storage {
        var entries: [String: UserStateBox] = [:]
        var tick: UInt64 = 0
    }

    private let storage = Mutex(Storage())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// The cached box of each of `keys` (nil where none), marked as used. A box `usable` refuses is
    /// dropped (read again).
    func boxes(_ keys: [String], where usable: (UserFeatureState) -> Bool = { _ in true }) -> [UserStateBox?] {
        storage.withLock { storage in
            storage.tick += 1
            let tick = storage.tick
            return keys.map { key in
                guard let box = storage.entries[key] else { return nil }
                guard usable(box.state) else {
                    storage.entries[key] = nil
                    return nil
                }
                box.lastUsed = tick
                return box
            }
        }
    }

    /// Adds boxes read from Redis and written back.
    func insert(_ boxes: some Sequence<(key: String, box: UserStateBox)>) {
        guard capacity > 0 else { return }
        storage.withLock { storage in
            storage.tick += 1
            for (key, box) in boxes {
                box.lastUsed = storage.tick
                storage.entries[key] = box
            }
            if storage.entries.count > capacity {
                // Sorting the ticks is O(n log n), paid once per tenth of the capacity inserted.
                let keep = capacity - capacity / 10
                let kept = storage.entries.sorted { $0.value.lastUsed > $1.value.lastUsed }.prefix(keep)
                storage.entries = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
            }
        }
    }

    func remove(_ keys: some Sequence<String>) {
        storage.withLock { storage in
            for key in keys { storage.entries[key] = nil }
        }
    }

    func removeAll() {
        storage.withLock { $0.entries.removeAll() }
    }
}
