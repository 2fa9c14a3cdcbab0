import Events

/// Where the outcome counters live in Redis, defined once: the processor writes through these names, the
/// API and `trainer promote --online` read through them. Every key of a domain carries the hash tag
/// `{out:<domain>}`: one Redis Cluster slot, so that one script applies a whole batch of a domain's
/// impressions and interactions atomically (docs/experiments.md, Outcomes).
///
/// - `…:offsets` — the last applied offset per `topic/partition` (a replay changes nothing);
/// - `…:recent:<user>` — the user's recent experiment answers (items in order), for attribution, and
///   which of their items were already credited; expires after the attribution window;
/// - `…:counts:<experiment>` — the counters, one field per (variant, strategy, metric, hour);
/// - `…:users:<experiment>` — each exposed user's variant, marked `+` once converted (the per-user counts).
public struct OutcomeKeys: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    public func tag(_ domain: EventDomain) -> String { "{out:\(domain.rawValue)}" }

    public func appliedOffsets(_ domain: EventDomain) -> String { "\(prefix):\(tag(domain)):offsets" }

    public func recentAnswers(_ domain: EventDomain, user: String) -> String { "\(prefix):\(tag(domain)):recent:\(user)" }

    public func counts(_ domain: EventDomain, experiment: String) -> String { "\(prefix):\(tag(domain)):counts:\(experiment)" }

    public func users(_ domain: EventDomain, experiment: String) -> String { "\(prefix):\(tag(domain)):users:\(experiment)" }
}
