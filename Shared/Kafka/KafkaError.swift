import CRdKafka

/// An error from librdkafka or from this wrapper, with the questions callers ask of it: can the same
/// operation succeed if retried later (`isRetriable`), is this client instance unusable from now on
/// (`isFatal`; e.g. the idempotent producer lost its guarantees), and, for a record that failed to be
/// delivered, may the broker have written it all the same (`isOutcomeUnknown`).
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative values are client-side errors).
    public let code: Int32
    /// librdkafka's symbolic name, e.g. `_MSG_TIMED_OUT`, `_QUEUE_FULL`, `TOPIC_ALREADY_EXISTS`.
    public let name: String
    public let message: String
    public let isFatal: Bool
    public let isRetriable: Bool
    /// A produced record failed after it was sent: purged while in flight (`_PURGE_INFLIGHT`), or timed out
    /// (`_MSG_TIMED_OUT`) or cut off with its request unanswered. The broker may have written it: a retry
    /// may write it twice, so readers need an id of the record's own to drop the copy. False for a record
    /// that never left the local queue (`_PURGE_QUEUE`, a timeout while no broker was reachable,
    /// `_QUEUE_FULL`): that one is known not to be written.
    public let isOutcomeUnknown: Bool

    public init(code: Int32, name: String, message: String, isFatal: Bool, isRetriable: Bool, isOutcomeUnknown: Bool = false) {
        self.code = code
        self.name = name
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.isOutcomeUnknown = isOutcomeUnknown
    }

    init(_ error: rd_kafka_resp_err_t, message: String? = nil, isFatal: Bool = false, isOutcomeUnknown: Bool = false) {
        let code = error.rawValue
        self.init(
            code: code,
            name: String(cString: rd_kafka_err2name(error)),
            message: message ?? String(cString: rd_kafka_err2str(error)),
            isFatal: isFatal || error == RD_KAFKA_RESP_ERR__FATAL,
            isRetriable: !isFatal && Self.retriableCodes.contains(code),
            isOutcomeUnknown: isOutcomeUnknown
        )
    }

    /// The error of a failed delivery report. `possiblyPersisted`: librdkafka's persistence status of the
    /// record (`rd_kafka_message_status`) says it was sent and no answer came back. Only that status tells
    /// a timeout after sending from one before (both are `_MSG_TIMED_OUT`); a record purged in flight
    /// counts as sent whatever the status (the broker may have written it; its acknowledgement is ignored).
    init(deliveryFailure code: Int32, possiblyPersisted: Bool) {
        self.init(
            rd_kafka_resp_err_t(rawValue: code),
            isOutcomeUnknown: possiblyPersisted || code == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT.rawValue
        )
    }

    /// Takes ownership of (and destroys) an `rd_kafka_error_t`.
    init(consuming error: OpaquePointer) {
        self.init(
            code: rd_kafka_error_code(error).rawValue,
            name: String(cString: rd_kafka_error_name(error)),
            message: String(cString: rd_kafka_error_string(error)),
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0
        )
        rd_kafka_error_destroy(error)
    }

    /// A configuration property was rejected by librdkafka.
    public static func configuration(_ message: String) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, name: "_INVALID_ARG", message: message, isFatal: false, isRetriable: false)
    }

    /// The client was closed before the operation completed. Retriable: the same operation may succeed
    /// on another client (e.g. the replacement of a closed producer).
    public static let closed = KafkaError(
        code: RD_KAFKA_RESP_ERR__DESTROY.rawValue, name: "_DESTROY", message: "the Kafka client was closed",
        isFatal: false, isRetriable: true
    )

    /// librdkafka's local queue is full: the producer is ahead of the broker. Back off and retry (HTTP 503).
    public var isQueueFull: Bool { code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue }
    /// The message was not acknowledged within `message.timeout.ms` (broker down or unreachable).
    public var isMessageTimeout: Bool { code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue }
    /// The broker refused the idempotent producer's id, epoch or sequence (it lost or moved on from this
    /// producer's state: a broker restarted empty, an epoch bumped after a timeout that the broker then
    /// fences). This producer instance will keep failing; a new one (a new producer id) succeeds, so the
    /// record is retriable elsewhere and the producer should be replaced.
    public var isProducerStateLost: Bool { Self.producerStateCodes.contains(code) }

    private static let producerStateCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
        RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }

    public var description: String { "KafkaError(\(name)): \(message)" }

    /// Errors after which the same message or request may succeed later.
    private static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT,
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
        RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, RD_KAFKA_RESP_ERR__RESOLVE,
        RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        // Retriable on a new producer (``isProducerStateLost``).
        RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
        RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }
}

/// The librdkafka linked at run time (not the headers compiled against).
public enum KafkaLibrary {
    public static var version: String { String(cString: rd_kafka_version_str()) }

    /// `(major, minor, patch)` of the run-time librdkafka.
    public static var versionNumbers: (major: Int, minor: Int, patch: Int) {
        let hex = Int(rd_kafka_version())
        return ((hex >> 24) & 0xff, (hex >> 16) & 0xff, (hex >> 8) & 0xff)
    }
}
