import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A Swift value that can be sent as a bind parameter, in PostgreSQL's text format.
public protocol PostgresEncodable: Sendable {
    static var postgresType: PostgresDataType { get }
    var postgresText: String { get }
}

/// A Swift value that can be read from a result column in text format.
public protocol PostgresDecodable {
    init(postgresText text: String) throws(PostgresError)
}

public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

extension String: PostgresCodable {
    public static var postgresType: PostgresDataType { .unspecified }
    public var postgresText: String { self }
    public init(postgresText text: String) { self = text }
}

extension Int: PostgresCodable {
    public static var postgresType: PostgresDataType { .int8 }
    public var postgresText: String { String(self) }
    public init(postgresText text: String) throws(PostgresError) {
        guard let value = Int(text) else { throw .decoding("not an integer: \(text.prefix(40))") }
        self = value
    }
}

extension Int64: PostgresCodable {
    public static var postgresType: PostgresDataType { .int8 }
    public var postgresText: String { String(self) }
    public init(postgresText text: String) throws(PostgresError) {
        guard let value = Int64(text) else { throw .decoding("not an integer: \(text.prefix(40))") }
        self = value
    }
}

extension Int32: PostgresCodable {
    public static var postgresType: PostgresDataType { .int4 }
    public var postgresText: String { String(self) }
    public init(postgresText text: String) throws(PostgresError) {
        guard let value = Int32(text) else { throw .decoding("not a 32-bit integer: \(text.prefix(40))") }
        self = value
    }
}

extension Double: PostgresCodable {
    public static var postgresType: PostgresDataType { .float8 }
    public var postgresText: String {
        if isNaN { return "NaN" }
        if self == .infinity { return "Infinity" }
        if self == -.infinity { return "-Infinity" }
        return String(self)
    }
    public init(postgresText text: String) throws(PostgresError) {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(text) else { throw .decoding("not a number: \(text.prefix(40))") }
            self = value
        }
    }
}

extension Bool: PostgresCodable {
    public static var postgresType: PostgresDataType { .bool }
    public var postgresText: String { self ? "t" : "f" }
    public init(postgresText text: String) throws(PostgresError) {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw .decoding("not a boolean: \(text.prefix(40))")
        }
    }
}

extension UUID: PostgresCodable {
    public static var postgresType: PostgresDataType { .uuid }
    public var postgresText: String { uuidString.lowercased() }
    public init(postgresText text: String) throws(PostgresError) {
        guard let value = UUID(uuidString: text) else { throw .decoding("not a UUID: \(text.prefix(40))") }
        self = value
    }
}

/// `bytea`, sent and read in hex format (`\x0a1b...`).
public struct PostgresBytes: PostgresCodable, Hashable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public static var postgresType: PostgresDataType { .bytea }

    public var postgresText: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public init(postgresText text: String) throws(PostgresError) {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw .decoding("bytea is not in hex format")
        }
        func nibble(_ c: UInt8) throws(PostgresError) -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: throw .decoding("bad hex digit in bytea")
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            bytes.append(try nibble(utf8[index]) << 4 | nibble(utf8[index + 1]))
            index += 2
        }
        self.bytes = bytes
    }
}

/// `timestamptz`. Sessions run with `TimeZone=UTC` and `DateStyle=ISO`, so the server's text is
/// `2026-11-21 20:36:18.123456+00`; parameters are sent as RFC 3339 UTC with microseconds.
extension Date: PostgresCodable {
    public static var postgresType: PostgresDataType { .timestamptz }

    public var postgresText: String {
        let totalMicros = Int64((timeIntervalSince1970 * 1_000_000).rounded(.down))
        var seconds = time_t(totalMicros >= 0 ? totalMicros / 1_000_000 : (totalMicros - 999_999) / 1_000_000)
        let micros = Int(totalMicros - Int64(seconds) * 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let fraction = String(micros)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - fraction.count) + fraction + "Z"
    }

    public init(postgresText text: String) throws(PostgresError) {
        // yyyy-mm-dd hh:mm:ss[.ffffff][+hh[:mm]]
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) throws(PostgresError) -> Int {
            guard range.upperBound <= bytes.count else { throw .decoding("short timestamp: \(text)") }
            var value = 0
            for index in range {
                let digit = Int(bytes[index]) - 48
                guard (0...9).contains(digit) else { throw .decoding("bad timestamp: \(text)") }
                value = value * 10 + digit
            }
            return value
        }
        var parts = tm()
        parts.tm_year = Int32(try number(0..<4) - 1900)
        parts.tm_mon = Int32(try number(5..<7) - 1)
        parts.tm_mday = Int32(try number(8..<10))
        parts.tm_hour = Int32(try number(11..<13))
        parts.tm_min = Int32(try number(14..<16))
        parts.tm_sec = Int32(try number(17..<19))
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            var scale = 0.1
            index += 1
            while index < bytes.count, (48...57).contains(bytes[index]) {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            let hours = try number((index + 1)..<(index + 3))
            var minutes = 0
            if index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":") {
                minutes = try number((index + 4)..<(index + 6))
            }
            offsetSeconds = sign * (hours * 3600 + minutes * 60)
        }
        let epoch = timegm(&parts)
        self = Date(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }
}

/// `text[]`, as the array literal `{"a","b \"c\""}`: every element quoted, `"` and `\` escaped, so no
/// element can be read as NULL or split on a comma.
extension Array: PostgresEncodable where Element == String {
    public static var postgresType: PostgresDataType { .textArray }

    public var postgresText: String { PostgresTextArray.literal(lazy.map { Optional($0) }) }
}

/// `text[]` whose elements may be NULL (`{"a",NULL}`): a nullable column of a batch of rows, sent as one
/// parameter and read back with `unnest`. A wrapper, since `Array` can conform only once.
public struct PostgresTextArray: PostgresEncodable {
    public var elements: [String?]

    public init(_ elements: [String?]) {
        self.elements = elements
    }

    public static var postgresType: PostgresDataType { .textArray }

    public var postgresText: String { Self.literal(elements) }

    /// The array literal: present elements quoted and escaped, absent ones the bare `NULL`.
    static func literal(_ elements: some Sequence<String?>) -> String {
        var text = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { text += "," }
            guard let element else {
                text += "NULL"
                continue
            }
            text += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { text += "\\" }
                text.unicodeScalars.append(character)
            }
            text += "\""
        }
        return text + "}"
    }
}

extension Array: PostgresDecodable where Element == String {
    /// Parses the server's one-dimensional array text (`{a,"b c",NULL}`); NULL elements are refused.
    public init(postgresText text: String) throws(PostgresError) {
        let scalars = Array<Unicode.Scalar>(text.unicodeScalars)
        guard scalars.first == "{", scalars.last == "}" else { throw .decoding("not an array literal: \(text.prefix(64))") }
        var elements: [String] = []
        var index = 1
        let end = scalars.count - 1
        while index < end {
            var element = String.UnicodeScalarView()
            if scalars[index] == "\"" {
                index += 1
                while index < end, scalars[index] != "\"" {
                    if scalars[index] == "\\" { index += 1 }
                    element.append(scalars[index])
                    index += 1
                }
                index += 1  // closing quote
            } else {
                while index < end, scalars[index] != "," {
                    element.append(scalars[index])
                    index += 1
                }
                if String(element) == "NULL" { throw .decoding("NULL element in a text[]") }
            }
            elements.append(String(element))
            if index < end, scalars[index] == "," { index += 1 }
        }
        self = elements
    }
}

/// A Swift value that `COPY … (FORMAT binary)` can send (``PostgresConnection/copyIn(table:columns:rows:)``):
/// the bytes of PostgreSQL's binary representation of one column type, which the server reads without
/// parsing text. The value's type must be the column's type (binary input is not converted): `Int` and
/// `Int64` a `bigint`, `Int32` an `integer`, `Double` a `double precision`, `Bool` a `boolean`, `String` a
/// `text`, `UUID` a `uuid`, `Date` a `timestamptz`, ``PostgresBytes`` a `bytea`; a mismatch fails the COPY
/// on the server.
public protocol PostgresBinaryEncodable: Sendable {
    /// Appends the value's bytes (without the length word that precedes them in a COPY row).
    func appendPostgresBinary(to buffer: inout [UInt8]) throws(PostgresError)
}

extension FixedWidthInteger {
    fileprivate func appendBigEndian(to buffer: inout [UInt8]) {
        withUnsafeBytes(of: bigEndian) { buffer.append(contentsOf: $0) }
    }
}

extension Int: PostgresBinaryEncodable {
    public func appendPostgresBinary(to buffer: inout [UInt8]) { Int64(self).appendBigEndian(to: &buffer) }
}

extension Int64: PostgresBinaryEncodable {
    public func appendPostgresBinary(to buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
}

extension Int32: PostgresBinaryEncodable {
    public func appendPostgresBinary(to buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
}

extension Double: PostgresBinaryEncodable {
    public func appendPostgresBinary(to buffer: inout [UInt8]) { bitPattern.appendBigEndian(to: &buffer) }
}

extension Bool: PostgresBinaryEncodable {
    public func appendPostgresBinary(to buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
}

extension String: PostgresBinaryEncodable {
    /// The UTF-8 bytes (binary text is read in the client encoding, which the connection sets to UTF8);
    /// text cannot hold a NUL byte.
    public func appendPostgresBinary(to buffer: inout [UInt8]) throws(PostgresError) {
        let start = buffer.count
        buffer.append(contentsOf: utf8)
        if buffer[start...].contains(0) { throw .invalidParameter(index: 0, reason: "text values cannot contain NUL bytes") }
    }
}

extension UUID: PostgresBinaryEncodable {
    public func appendPostgresBinary(to buffer: inout [UInt8]) {
        withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
    }
}

extension PostgresBytes: PostgresBinaryEncodable {
    public func appendPostgresBinary(to buffer: inout [UInt8]) { buffer.append(contentsOf: bytes) }
}

extension Date: PostgresBinaryEncodable {
    /// Microseconds since 2000-01-01 00:00 UTC (PostgreSQL's epoch), rounded to the nearest: a time made
    /// from whole milliseconds is stored exactly.
    public func appendPostgresBinary(to buffer: inout [UInt8]) {
        Int64(((timeIntervalSince1970 - 946_684_800) * 1_000_000).rounded()).appendBigEndian(to: &buffer)
    }
}
