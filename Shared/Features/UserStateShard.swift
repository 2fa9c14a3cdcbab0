import Events
import Redis

/// One part of a batch's users, computed and encoded by one task while the other parts are on other
/// cores. Users are split by their slot in the batch (``BatchNames``), so each user's state is in exactly
/// one shard and its events are applied there in record order: shards share nothing (one writer per user),
/// and their popularity sums are added once all are done.
///
/// A class so that a task fills it in place. `@unchecked Sendable`: a shard is handed to one task at a
/// time, and the feature writer reads it again only after that task was awaited.
final class UserStateShard: @unchecked Sendable {
    /// The user slots (``BatchNames/stateKeys``) of this shard.
    var slots: [Int] = []
    /// Indices (into the batch) of the events to apply here, in record order.
    var indices: [Int] = []
    /// What happened to each of `indices` (replayed or applied).
    var statuses: [(index: Int, status: FeatureApplyOutcome.Status)] = []
    /// Popularity and tally changes per domain.
    var popularity: [EventDomain: PopularityCall] = [:]

    /// Which of `count` shards holds user slot `slot`.
    static func index(of slot: Int, count: Int) -> Int { slot % count }
}
