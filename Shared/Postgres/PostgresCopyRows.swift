#if canImport(Glibc)
import Glibc
#endif

/// Rows in `COPY … FROM STDIN`'s text format, written straight into bytes: values are escaped as they
/// are appended (tab, newline, carriage return, backslash; `nil` is `\N`), so any text is stored
/// verbatim. What ``PostgresConnection/copyIn(table:columns:rows:)`` sends; building rows this way costs
/// no boxed value and no intermediate string per value (a bulk writer's hot loop).
///
/// A value that cannot be sent (text with a NUL byte) or a row with another number of values than the
/// first is remembered as ``failure``, and the COPY is refused before it starts.
public struct PostgresCopyRows: Sendable {
    /// The rows, each ending with a newline.
    public private(set) var bytes: [UInt8] = []
    public private(set) var count = 0
    /// Values in every row (that of the first row; nil before one ended).
    public private(set) var valuesPerRow: Int?
    /// The first value that cannot be sent, or row of another width.
    public private(set) var failure: PostgresError?
    private var valuesInRow = 0

    public init(reservingBytes capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// Text, escaped.
    public mutating func append(_ text: String) {
        startValue()
        var text = text
        text.withUTF8 { utf8 in
            for byte in utf8 {
                switch byte {
                case 0:
                    if failure == nil { failure = .invalidParameter(index: valuesInRow - 1, reason: "text values cannot contain NUL bytes") }
                case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
                case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
                default: bytes.append(byte)
                }
            }
        }
    }

    /// An integer in decimal.
    public mutating func append(_ value: Int64) {
        startValue()
        appendDecimal(value)
    }

    /// A double as ``Double/postgresText`` writes it (shortest round-trip form; `NaN`, `±Infinity`).
    public mutating func append(_ value: Double) {
        startValue()
        bytes.append(contentsOf: value.postgresText.utf8)
    }

    /// A `timestamptz` from milliseconds since the epoch: `yyyy-mm-ddThh:mm:ss.ffffffZ`, exact (no
    /// double in between, whose rounding could take a microsecond off).
    public mutating func appendTimestamp(millisecondsSinceEpoch milliseconds: Int64) {
        startValue()
        var seconds = time_t(milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
        let micros = (milliseconds - Int64(seconds) * 1000) * 1000
        var parts = tm()
        gmtime_r(&seconds, &parts)
        appendDigits(Int64(parts.tm_year) + 1900, width: 4)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(Int64(parts.tm_mon) + 1, width: 2)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(Int64(parts.tm_mday), width: 2)
        bytes.append(UInt8(ascii: "T"))
        appendDigits(Int64(parts.tm_hour), width: 2)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(Int64(parts.tm_min), width: 2)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(Int64(parts.tm_sec), width: 2)
        bytes.append(UInt8(ascii: "."))
        appendDigits(micros, width: 6)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// SQL NULL.
    public mutating func appendNull() {
        startValue()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "N"))
    }

    /// Ends the row begun by the values appended since the last call.
    public mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        if let valuesPerRow, valuesPerRow != valuesInRow, failure == nil {
            failure = .invalidParameter(index: 0, reason: "COPY row has \(valuesInRow) values for \(valuesPerRow) columns")
        }
        if valuesPerRow == nil { valuesPerRow = valuesInRow }
        valuesInRow = 0
        count += 1
    }

    private mutating func startValue() {
        if valuesInRow > 0 { bytes.append(UInt8(ascii: "\t")) }
        valuesInRow += 1
    }

    private mutating func appendDecimal(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            // The magnitude of Int64.min does not fit an Int64.
            appendMagnitude(UInt64(bitPattern: 0 &- value), width: 1)
        } else {
            appendMagnitude(UInt64(value), width: 1)
        }
    }

    /// A non-negative value with leading zeros up to `width` digits.
    private mutating func appendDigits(_ value: Int64, width: Int) {
        appendMagnitude(UInt64(max(0, value)), width: width)
    }

    private mutating func appendMagnitude(_ value: UInt64, width: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0 || count < width
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }
}
