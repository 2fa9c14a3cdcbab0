/// How often a cluster-mode client was redirected, and read the slot map, since it started: for metrics,
/// logs and tests (a reshard shows as `moved` and `ask`; a steady cluster as none).
public struct RedisRedirectionCounts: Sendable, Hashable {
    /// `MOVED` replies followed (the slot had a new owner).
    public var moved = 0
    /// `ASK` replies followed (the key was already on a migration's target).
    public var ask = 0
    /// `TRYAGAIN` replies retried (a multi-key command or script while its keys were split by a migration).
    public var tryAgain = 0
    /// `CLUSTER SLOTS` reads (the first one included).
    public var slotMapReads = 0

    public init() {}
}
