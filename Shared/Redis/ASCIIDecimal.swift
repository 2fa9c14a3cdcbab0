/// A decimal integer written in ASCII (an optional leading '-', then digits), read straight from bytes
/// without making a String: RESP headers and integer replies, and the numbers inside stored feature values.
public enum ASCIIDecimal {
    /// The value, or nil when `bytes` is empty, holds anything but the sign and digits, or overflows Int64.
    @inlinable
    public static func int64(_ bytes: some Collection<UInt8>) -> Int64? {
        var value: Int64 = 0
        var negative = false
        var sawDigit = false
        var first = true
        for byte in bytes {
            defer { first = false }
            if first, byte == UInt8(ascii: "-") {
                negative = true
                continue
            }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = shifted.addingReportingOverflow(Int64(digit))
            guard !overflowA, !overflowB else { return nil }
            value = sum
            sawDigit = true
        }
        return sawDigit ? (negative ? -value : value) : nil
    }
}
