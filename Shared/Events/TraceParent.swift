/// A W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/#traceparent-header):
/// `version-traceid-parentid-flags`, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
/// Parsed by the rules of version 00, which a receiver applies to any version it does not know: lowercase
/// hex only, version `ff` refused, neither id all zeros, and a higher version may carry more fields after
/// a `-`. Pure; no allocation beyond the two id strings.
public struct TraceParent: Sendable, Hashable, CustomStringConvertible {
    /// 32 lowercase hex digits (16 bytes), never all zeros.
    public let traceID: String
    /// 16 lowercase hex digits (8 bytes): the caller's span, never all zeros.
    public let parentID: String
    /// Trace flags; bit 0 is `sampled`.
    public let flags: UInt8

    public var isSampled: Bool { flags & 1 == 1 }

    /// The longest `tracestate` forwarded: the specification asks propagators to keep at least 512
    /// characters and lets them drop a longer one.
    public static let maximumTraceStateLength = 512

    /// Nil unless `traceID` and `parentID` are ids this type's rules accept.
    public init?(traceID: String, parentID: String, flags: UInt8) {
        guard Self.isID(traceID.utf8, length: 32), Self.isID(parentID.utf8, length: 16) else { return nil }
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// Parses a header value; nil for anything the specification says to ignore.
    public init?(_ header: some StringProtocol) {
        var header = Substring(header)
        var parsed: TraceParent?
        header.withUTF8 { parsed = Self.parse($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// As it is written in a header, always as version 00.
    public var description: String {
        "00-\(traceID)-\(parentID)-" + String(Self.hexDigits[Int(flags >> 4)]) + String(Self.hexDigits[Int(flags & 0x0F)])
    }

    private static let hexDigits = Array("0123456789abcdef")

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> TraceParent? {
        guard bytes.count >= 55,
              let version = byte(bytes, at: 0), version != 0xFF,
              bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
              let flags = byte(bytes, at: 53)
        else { return nil }
        // Version 00 is exactly 55 characters; a later version may append fields, after a dash.
        if version == 0 {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 {
            guard bytes[55] == UInt8(ascii: "-") else { return nil }
        }
        let traceID = UnsafeBufferPointer(rebasing: bytes[3..<35])
        let parentID = UnsafeBufferPointer(rebasing: bytes[36..<52])
        guard isID(traceID, length: 32), isID(parentID, length: 16) else { return nil }
        return TraceParent(
            checkedTraceID: String(decoding: traceID, as: UTF8.self), parentID: String(decoding: parentID, as: UTF8.self), flags: flags
        )
    }

    private init(checkedTraceID: String, parentID: String, flags: UInt8) {
        traceID = checkedTraceID
        self.parentID = parentID
        self.flags = flags
    }

    /// `length` lowercase hex digits, not all `0`.
    private static func isID(_ digits: some Collection<UInt8>, length: Int) -> Bool {
        var count = 0
        var nonZero = false
        for digit in digits {
            guard hexValue(digit) != nil else { return false }
            if digit != UInt8(ascii: "0") { nonZero = true }
            count += 1
        }
        return count == length && nonZero
    }

    private static func byte(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> UInt8? {
        guard let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else { return nil }
        return high << 4 | low
    }

    /// Lowercase hex only: the specification refuses uppercase.
    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
