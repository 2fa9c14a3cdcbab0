/// The headers a dead letter carries besides the record's own (docs/events.md): written by the stream
/// processor, read by the dead-letter redrive. Every name starts with ``prefix``.
public enum DeadLetterHeaders {
    public static let prefix = "dlq-"
    /// Machine-readable reason (the validator's code, `record_too_large`, `wrong_topic`, `feature_rejected`, …).
    public static let reason = "dlq-reason"
    /// The field at fault, when known.
    public static let field = "dlq-field"
    /// The error's text.
    public static let error = "dlq-error"
    /// The original value's size when it was cut to fit.
    public static let truncatedFrom = "dlq-truncated-from"
    /// The original key and headers' size when they were left out.
    public static let headersDropped = "dlq-headers-dropped"
    public static let sourceTopic = "dlq-source-topic"
    public static let sourcePartition = "dlq-source-partition"
    public static let sourceOffset = "dlq-source-offset"
}
