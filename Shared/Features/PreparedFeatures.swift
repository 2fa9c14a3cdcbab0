import Redis

/// A batch's features, prepared (``FeatureWriter/prepare(_:now:logEnds:topicIDs:)``): the events' outcome
/// computed, the event ids, popularity and tallies written, and the users' changed fields encoded but not
/// yet sent (``FeatureWriter/write(_:)``).
///
/// Splitting the two lets a processor prepare batch n+1 while batch n's users are written: the users are the
/// last write of a batch and the only one each user's state depends on, so its applied offset in Redis never
/// says more than the popularity, tallies and ids already hold (a crash in between: the replay skips what
/// the offsets say was counted and applies the users).
public struct PreparedFeatures: Sendable {
    /// What happened to each event; ``FeatureApplyOutcome/userStepDuration`` is filled in by the write.
    public var outcome: FeatureApplyOutcome
    /// The users' `HSET`s (and `MULTI`/`HDEL`/`EXEC`, `EXPIRE`), in no particular order across users.
    let commands: [RedisCommand]
    /// The state keys these commands write.
    let stateKeys: [String]
    /// ``PendingUserWrites/generation`` when the preparation began.
    let generation: UInt64
}
