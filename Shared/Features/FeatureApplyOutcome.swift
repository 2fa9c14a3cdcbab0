/// What happened to each event of a batch.
public struct FeatureApplyOutcome: Sendable, Hashable {
    public enum Status: Sendable, Hashable {
        /// Applied by this call.
        case applied(weightUnits: Int64)
        /// Applied before from this same record (a replay); nothing applied twice.
        case replayed
        /// The event id was applied from another record: a producer-side duplicate.
        case duplicate
        /// Older than the largest window plus the allowed lateness.
        case late
        /// Catalog events carry no interaction features.
        case catalog
        /// Redis refused this event with an error it would give again for the same input (its user's
        /// state, or a popularity or tally key it adds to, holds another type): it has no effect anywhere,
        /// and the caller dead-letters it with `reason` instead of retrying the batch forever. Its event id
        /// keeps the reason, so a retry or replay of the batch refuses it again.
        case rejected(reason: String)
    }

    public var statuses: [Status]
    /// Wall time of each step: reading what the batch needs, computing in memory, writing popularity and
    /// tallies, writing the users' state.
    public var readDuration: Duration = .zero
    public var computeDuration: Duration = .zero
    public var popularityStepDuration: Duration = .zero
    public var userStepDuration: Duration = .zero

    public func count(_ predicate: (Status) -> Bool) -> Int { statuses.reduce(0) { $0 + (predicate($1) ? 1 : 0) } }
    public var applied: Int { count { if case .applied = $0 { true } else { false } } }
    public var late: Int { count { $0 == .late } }
    public var duplicates: Int { count { $0 == .duplicate } }
    public var replayed: Int { count { $0 == .replayed } }
    public var rejected: Int { count { if case .rejected = $0 { true } else { false } } }
}
