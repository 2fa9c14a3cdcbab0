/// What the consumer knew of a batch's partitions when it fetched them: lets the feature writer tell
/// a replay of records it applied from records of a recreated topic, whose offsets start again at 0.
struct PartitionLogs: Sendable {
    /// Log end offset (high watermark) by ``RecordPosition/partitionField``.
    var logEnds: [String: Int64]
    /// Kafka topic id by topic name; a topic gets a new one each time it is created.
    var topicIDs: [String: String]
}
