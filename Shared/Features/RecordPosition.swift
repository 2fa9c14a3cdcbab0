import Redis

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
    public var reference: String {
        var bytes: [UInt8] = []
        appendReference(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes ``reference`` into `buffer`: the feature writer builds each event id's Redis argument in place
    /// rather than from a string per event.
    public func appendReference(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: topic.utf8)
        buffer.append(UInt8(ascii: "/"))
        Int64(partition).appendRedisArgument(to: &buffer)
        buffer.append(UInt8(ascii: "/"))
        offset.appendRedisArgument(to: &buffer)
    }
}
