import Events
import Redis

/// One part of a batch's users, computed and encoded by one task while the other parts are on other
/// cores. Users are split by their state key, so each user's state is in exactly one shard and its events
/// are applied there in record order: shards share nothing (one writer per user), and their popularity
/// sums are added once all are done.
///
/// A class so that a task mutates the states in place: a struct handed to a child task would be a second
/// reference to every state's collections, and the first change would copy them.
/// `@unchecked Sendable`: a shard is handed to one task at a time, and the feature writer reads it again
/// only after that task was awaited.
final class UserStateShard: @unchecked Sendable {
    /// The states of this shard's users, by key: taken from the cache or read, then applied to.
    var states: [String: UserFeatureState] = [:]
    /// Indices (into the batch) of the events to apply here, in record order.
    var indices: [Int] = []
    /// State keys an event was applied to.
    var touched: Set<String> = []
    /// What happened to each of `indices` (replayed or applied).
    var statuses: [(index: Int, status: FeatureApplyOutcome.Status)] = []
    /// Popularity and tally changes per domain.
    var popularity: [EventDomain: PopularityCall] = [:]

    /// Which of `count` shards holds `key`. The hash is per process, as the split only needs to be stable
    /// within a batch.
    static func index(of key: String, count: Int) -> Int {
        count == 1 ? 0 : Int(UInt(bitPattern: key.hashValue) % UInt(count))
    }
}
