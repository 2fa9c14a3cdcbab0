/// Whether a record read from an event topic can be applied, by the stream processor's rules: one
/// definition for the processor (which dead-letters what fails) and the dead-letter redrive (which sends
/// back only what would pass now). Pure: the caller passes the record's value, its `schema-version`
/// header and the topic it was read from.
public struct EventRecordCheck: Sendable {
    /// Events the gateway accepts are far smaller; a third party can write larger records to our topics.
    public static let defaultMaximumRecordBytes = 256 * 1024

    /// Why a record cannot be applied: a machine-readable reason (the validator's code, or
    /// `record_too_large`, `unsupported_schema_version`, `wrong_topic`), the field at fault if known, and a message.
    public struct Rejection: Error, Sendable, Hashable {
        public var reason: String
        public var field: String?
        public var message: String
    }

    public var topics: EventTopics
    public var maximumRecordBytes: Int

    public init(topics: EventTopics, maximumRecordBytes: Int = Self.defaultMaximumRecordBytes) {
        self.topics = topics
        self.maximumRecordBytes = maximumRecordBytes
    }

    /// The event, or why the record is refused. The size is checked before anything is parsed.
    public func check(value: [UInt8], schemaVersion: String?, topic: String) -> Result<Event, Rejection> {
        if value.count > maximumRecordBytes {
            return .failure(Rejection(
                reason: "record_too_large", field: nil,
                message: "\(value.count) bytes; events are at most \(maximumRecordBytes) (processor.max_record_bytes)"
            ))
        }
        if let schemaVersion, schemaVersion != Event.schemaVersion {
            return .failure(Rejection(reason: "unsupported_schema_version", field: nil, message: "schema-version \(schemaVersion.prefix(32)) is not \(Event.schemaVersion)"))
        }
        let event: Event
        do {
            event = try Event.decode(value)
        } catch {
            return .failure(Rejection(reason: error.code.rawValue, field: error.field, message: error.message))
        }
        guard topics.topic(for: event.domain) == topic else {
            return .failure(Rejection(reason: "wrong_topic", field: "type", message: "\(event.type.rawValue) does not belong on \(topic)"))
        }
        return .success(event)
    }
}
