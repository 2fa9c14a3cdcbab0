import CRdKafka

/// An error from librdkafka or from this wrapper, with the two questions callers ask of it:
/// can the same operation succeed if retried later (`isRetriable`), and is this client instance
/// unusable from now on (`isFatal`; e.g. the idempotent producer lost its guarantees).
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative values are client-side errors).
    public let code: Int32
    /// librdkafka's symbolic name, e.g. `_MSG_TIMED_OUT`, `_QUEUE_FULL`, `TOPIC_ALREADY_EXISTS`.
    public let name: String
    public let message: String
    public let isFatal: Bool
    public let isRetriable: Bool

    public init(code: Int32, name: String, message: String, isFatal: Bool, isRetriable: Bool) {
        self.code = code
        self.name = name
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    init(_ error: rd_kafka_resp_err_t, message: String? = nil, isFatal: Bool = false) {
        let code = error.rawValue
        self.init(
            code: code,
            name: String(cString: rd_kafka_err2name(error)),
            message: message ?? String(cString: rd_kafka_err2str(error)),
            isFatal: isFatal || error == RD_KAFKA_RESP_ERR__FATAL,
            isRetriable: !isFatal && Self.retriableCodes.contains(code)
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
