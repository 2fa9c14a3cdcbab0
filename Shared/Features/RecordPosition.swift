/// Where a record was read from. Identifies a record across replays (the event id identifies the
/// event, which a producer may have written twice).
public struct RecordPosition: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// `topic/partition`: the field of the applied-offsets hash.
    public var partitionField: String { Self.partitionField(topic: topic, partition: partition) }
    public static func partitionField(topic: String, partition: Int32) -> String { "\(topic)/\(partition)" }
    /// `topic/partition/offset`: stored with each applied event id.
    public var reference: String { "\(topic)/\(partition)/\(offset)" }
}
