import Events

/// The Redis key layout, defined once: the processor writes through these names and the API reads
/// through them. Every key carries a hash tag (`{…}`) naming the group it belongs to, so each group
/// lives in one Redis Cluster slot, and every command and script call touches one group's keys:
///
/// - `{u:<user>}` — a user's state per domain (history, seen-set, affinities, votes, applied offsets)
///   and stated preferences;
/// - `{pop:<domain>}` — a domain's popularity buckets (all items, per genre/category), poll tallies and
///   the applied offsets that make those updates idempotent;
/// - `{ids:<domain>}` — which record each recent event id was applied from (duplicate detection).
///
/// User and poll ids cannot contain `{` or `}` (the event contract refuses them), so a tag cannot be
/// forged from input. The layout is documented in docs/features.md.
public struct FeatureKeys: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    // MARK: Users

    public func userTag(_ user: String) -> String { "{u:\(user)}" }
    /// Hash: everything the processor keeps of a user in one domain, one field per fact so that a batch
    /// writes only what changed, in one `HSET` (see ``UserFeatureState`` for the fields).
    public func userState(_ user: String, _ domain: EventDomain) -> String { "\(prefix):{u:\(user)}:state:\(domain.rawValue)" }
    /// Hash: genre (movies) or category (polls) → weight, as the user stated them (cold start). Written by
    /// the API (the only key it may write: its Redis user's ACL allows writes to `*}:prefs:*` alone).
    public func userPreferences(_ user: String, _ domain: EventDomain) -> String { "\(prefix):{u:\(user)}:prefs:\(domain.rawValue)" }

    // MARK: Event ids

    /// Hash: event id → `<topic>/<partition>/<offset>` of the record it was applied from, for the events
    /// whose `occurred_at` falls in one hour (`hour` = ms / 3 600 000). Tells a producer's duplicate (the
    /// same id at another offset, under any user) from a replay of the same record.
    public func eventIDs(_ domain: EventDomain, hour: Int64) -> String { "\(prefix):{ids:\(domain.rawValue)}:\(hour)" }

    // MARK: Popularity

    /// Hash: `<topic>/<partition>` → the last offset whose popularity (and tally) effect was applied.
    public func appliedOffsets(_ domain: EventDomain) -> String { "\(prefix):{pop:\(domain.rawValue)}:offsets" }
    /// Sorted set of item → weight units of events in one bucket of one window, over all items (a genre's or
    /// category's popularity is read from these, filtered by the catalog).
    public func popularityBucket(_ domain: EventDomain, window: String, bucket: Int64) -> String {
        "\(prefix):{pop:\(domain.rawValue)}:all:\(window):\(bucket)"
    }

    // MARK: Polls

    /// Hash: option → number of users whose current vote it is (their sum is the number of voters). In
    /// the poll domain's popularity slot, so that tallies change in the same script as the applied offsets.
    public func pollTally(_ poll: String) -> String { "\(prefix):{pop:\(EventDomain.poll.rawValue)}:tally:\(poll)" }
}
