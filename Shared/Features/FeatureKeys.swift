import Events

/// The Redis key layout, defined once: the processor writes through these names and the API reads
/// through them. Every key carries a hash tag (`{…}`) naming the group it belongs to, so each group
/// lives in one Redis Cluster slot and every script touches one group's keys:
///
/// - `{u:<user>}` — a user's profile, history, seen-set and affinities (and, on a cluster, event markers);
/// - `{pop:<domain>}` — a domain's popularity buckets (all items, per genre/category) and the applied
///   offsets that make popularity updates idempotent;
/// - `{p:<poll>}` — a poll's votes and tallies.
///
/// User and poll ids cannot contain `{` or `}` (the event contract refuses them), so a tag cannot be
/// forged from input. The layout is documented in docs/features.md.
public struct FeatureKeys: Sendable, Hashable {
    public let prefix: String
    /// Where event markers live (see ``eventMarker(user:eventID:)``).
    public let topology: RedisTopology

    public init(prefix: String, topology: RedisTopology = .standalone) {
        self.prefix = prefix
        self.topology = topology
    }

    // MARK: Users

    public func userTag(_ user: String) -> String { "{u:\(user)}" }
    /// Hash: `rating_sum` (half-stars), `rating_count`, and `affinity:<domain>:<genre or category>` →
    /// summed weight units.
    public func userProfile(_ user: String) -> String { "\(prefix):{u:\(user)}:profile" }
    /// Sorted set, score = occurred_at ms, member = `time|type|item|weight units|event_id`.
    public func userHistory(_ user: String, _ domain: EventDomain) -> String { "\(prefix):{u:\(user)}:history:\(domain.rawValue)" }
    /// Sorted set, score = last interaction ms, member = item id.
    public func userSeen(_ user: String, _ domain: EventDomain) -> String { "\(prefix):{u:\(user)}:seen:\(domain.rawValue)" }
    /// The profile field of a user's affinity to a genre (movies) or category (polls).
    public func affinityField(_ domain: EventDomain, group: String) -> String { "affinity:\(domain.rawValue):\(group)" }
    /// Hash: genre (movies) or category (polls) → weight, as the user stated them (cold start). Written by
    /// the API (the only key it may write: its Redis user's ACL allows writes to `*}:prefs:*` alone).
    public func userPreferences(_ user: String, _ domain: EventDomain) -> String { "\(prefix):{u:\(user)}:prefs:\(domain.rawValue)" }
    /// String `<topic>/<partition>/<offset>|<weight units>`: this event was applied, from that record.
    ///
    /// Keyed by the event id alone on a standalone server (`<prefix>:event:<id>`), as the training store
    /// deduplicates: the same id sent again under another user is a duplicate, not a second event. On a
    /// cluster the user script must keep to the user's slot, so the marker carries the user's tag there
    /// (`<prefix>:{u:<user>}:event:<id>`) and an id reused across users is deduplicated by the gateway
    /// (its claims and idempotency cache) and the training store, not in Redis.
    public func eventMarker(user: String, eventID: String) -> String {
        topology == .cluster ? "\(prefix):{u:\(user)}:event:\(eventID)" : "\(prefix):event:\(eventID)"
    }

    // MARK: Popularity

    public func popularityTag(_ domain: EventDomain) -> String { "{pop:\(domain.rawValue)}" }
    /// Hash: `<topic>/<partition>` → the last offset whose popularity effect was applied.
    public func appliedOffsets(_ domain: EventDomain) -> String { "\(prefix):{pop:\(domain.rawValue)}:offsets" }
    /// Sorted set of item → weight units of events in one bucket of one window; `group` is a genre or
    /// category, or nil for all items.
    public func popularityBucket(_ domain: EventDomain, group: String?, window: String, bucket: Int64) -> String {
        if let group {
            return "\(prefix):{pop:\(domain.rawValue)}:group:\(group):\(window):\(bucket)"
        }
        return "\(prefix):{pop:\(domain.rawValue)}:all:\(window):\(bucket)"
    }

    // MARK: Polls

    public func pollTag(_ poll: String) -> String { "{p:\(poll)}" }
    /// Hash: user → `occurred_at ms|event_id|option` of the vote that counts (the option last: it may hold `|`).
    public func pollVotes(_ poll: String) -> String { "\(prefix):{p:\(poll)}:votes" }
    /// Hash: option → number of users whose current vote it is.
    public func pollTally(_ poll: String) -> String { "\(prefix):{p:\(poll)}:tally" }
    /// String: number of users who voted.
    public func pollTotal(_ poll: String) -> String { "\(prefix):{p:\(poll)}:total" }
}

/// Redis Cluster's key → slot mapping (CRC16/XMODEM of the hash tag, mod 16384), used to split
/// script calls so that each touches one slot.
public enum RedisKeySlot {
    public static func slot(_ key: String) -> Int {
        var bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            bytes = Array(bytes[(open + 1)..<close])
        }
        return Int(crc16(bytes) % 16384)
    }

    static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
