/// What the consumer knew of a batch's partitions when it fetched them: lets the feature writer tell
/// a replay of records it applied from records of a recreated topic, whose offsets start again at 0.
struct PartitionLogs: Sendable {
    /// Log end offset (high watermark) by ``RecordPosition/partitionField``.
    var logEnds: [String: Int64]
    /// Kafka topic id by topic name; a topic gets a new one each time it is created.
    var topicIDs: [String: String]

    /// How far a stored applied offset of `field` (a partition of `topic`) can be trusted.
    struct Trust {
        /// The offset records at or below which were applied; nil if nothing of this incarnation was.
        var offset: Int64?
        /// The partition was recreated although the id at hand is the stored one: the id was looked up
        /// before the recreation. New offsets are then stored without an id (labelled with the stale one,
        /// the true id, once looked up, would disown them and count their records again).
        var idIsStale = false
        /// The id to store with new offsets.
        var topicIDToStore: String?
    }

    /// An applied offset stored with another topic id belongs to an earlier incarnation of the topic; one
    /// at or past the log end too (offsets of a log never go back), whatever its id. Offsets stored without
    /// an id (before ids were kept, a broker without them) fall back to the log-end rule.
    func trusted(_ stored: AppliedOffset?, field: String, topic: String) -> Trust {
        Self.trusted(stored, topicID: topicIDs[topic], logEnd: logEnds[field])
    }

    /// ``trusted(_:field:topic:)`` with the partition's topic id and log end looked up once (per batch).
    static func trusted(_ stored: AppliedOffset?, topicID: String?, logEnd: Int64?) -> Trust {
        guard let stored else { return Trust(offset: nil, topicIDToStore: topicID) }
        if let storedID = stored.topicID, let topicID, storedID != topicID {
            return Trust(offset: nil, topicIDToStore: topicID)
        }
        if let end = logEnd, stored.offset >= end {
            return Trust(offset: nil, idIsStale: topicID != nil, topicIDToStore: nil)
        }
        // Without an id at hand (the trainer's backfill reads positions from the training store, which keeps
        // no topic ids), a trusted offset keeps the id it was stored with: the backfill does not strip it.
        return Trust(offset: stored.offset, topicIDToStore: topicID ?? stored.topicID)
    }
}
