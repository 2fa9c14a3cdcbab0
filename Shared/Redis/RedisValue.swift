/// A typed Redis reply (RESP2, as spoken by hiredis 0.14).
public enum RedisValue: Sendable, Hashable {
    /// `+OK`-style status replies.
    case simpleString(String)
    /// Binary-safe bulk strings, byte for byte as stored.
    case bulkString([UInt8])
    case integer(Int64)
    case array([RedisValue])
    /// A nil bulk string or nil array (`GET` of a missing key).
    case null
    /// An error reply (`-ERR ...`). Inside pipelines errors are values, so one failing command does not
    /// hide the others' results; ``RedisClient/send(_:)`` throws them instead.
    case error(String)

    /// The reply as UTF-8 text, for bulk and simple strings; `nil` otherwise or for invalid UTF-8.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(validating: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The reply's bytes, for bulk and simple strings.
    public var bytes: [UInt8]? {
        switch self {
        case .simpleString(let text): Array(text.utf8)
        case .bulkString(let bytes): bytes
        default: nil
        }
    }

    /// Integers, and bulk strings that hold a decimal integer (as `GET` of a counter does).
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString, .simpleString: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// Bulk strings holding a decimal number (as `ZSCORE` returns).
    public var double: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .bulkString, .simpleString: string.flatMap { Double($0) }
        default: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}
