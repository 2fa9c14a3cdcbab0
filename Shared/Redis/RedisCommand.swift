/// Something that can be one argument of a Redis command. Arguments travel as length-prefixed
/// bytes (argv), so no value is ever parsed as part of the command: NUL bytes, newlines, `*` and `$`
/// in keys and values are stored verbatim.
public protocol RedisArgumentConvertible: Sendable {
    func appendRedisArgument(to buffer: inout [UInt8])
}

extension String: RedisArgumentConvertible {
    public func appendRedisArgument(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Substring: RedisArgumentConvertible {
    public func appendRedisArgument(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Array: RedisArgumentConvertible where Element == UInt8 {
    public func appendRedisArgument(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension ArraySlice: RedisArgumentConvertible where Element == UInt8 {
    public func appendRedisArgument(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension Int: RedisArgumentConvertible {
    public func appendRedisArgument(to buffer: inout [UInt8]) { Int64(self).appendRedisArgument(to: &buffer) }
}

extension Int64: RedisArgumentConvertible {
    /// The decimal digits written straight into the buffer (no string made for them: the feature writer
    /// writes several numbers per user and event, and RESP's counts and lengths are written with it too).
    public func appendRedisArgument(to buffer: inout [UInt8]) {
        if self < 0 { buffer.append(UInt8(ascii: "-")) }
        // The magnitude as unsigned, so that Int64.min has one too.
        var remaining = magnitude
        if remaining < 10 {
            buffer.append(UInt8(ascii: "0") + UInt8(remaining))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt64.max has 20 digits
        withUnsafeMutableBytes(of: &digits) { raw in
            var count = 0
            while remaining > 0 {
                raw[count] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[index]) }
        }
    }
}

extension Double: RedisArgumentConvertible {
    /// Redis parses scores with strtod; Swift's shortest round-trip form is exact and never uses a
    /// locale-dependent separator. Infinities use Redis's own spelling.
    public func appendRedisArgument(to buffer: inout [UInt8]) {
        let text: String
        if self == .infinity { text = "+inf" } else if self == -.infinity { text = "-inf" } else { text = String(self) }
        buffer.append(contentsOf: text.utf8)
    }
}

/// One Redis command as an argument vector. Arguments are kept in one contiguous buffer so that
/// handing them to hiredis needs no per-argument allocation.
public struct RedisCommand: Sendable, Hashable {
    /// All arguments, concatenated.
    public private(set) var storage: [UInt8]
    /// The length of each argument in `storage`, in order; the first is the command name.
    public private(set) var lengths: [Int]

    public init(_ name: String, _ arguments: any RedisArgumentConvertible...) {
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [any RedisArgumentConvertible]) {
        storage = Array(name.utf8)
        storage.reserveCapacity(storage.count + arguments.count * 16)
        lengths = [storage.count]
        lengths.reserveCapacity(arguments.count + 1)
        for argument in arguments { append(argument) }
    }

    /// Adds one more argument.
    public mutating func append(_ argument: some RedisArgumentConvertible) {
        let before = storage.count
        argument.appendRedisArgument(to: &storage)
        lengths.append(storage.count - before)
    }

    /// Makes room for `bytes` more argument bytes and `arguments` more arguments.
    public mutating func reserveCapacity(bytes: Int, arguments: Int) {
        storage.reserveCapacity(storage.count + bytes)
        lengths.reserveCapacity(lengths.count + arguments)
    }

    /// Adds one argument that `write` appends to the command's buffer: an argument made of parts (a field's
    /// prefix and an id, a value of several numbers) is written in place, with no string built for it first.
    /// Still one length-prefixed argument, whatever bytes it holds.
    public mutating func appendArgument(_ write: (inout [UInt8]) -> Void) {
        let before = storage.count
        write(&storage)
        lengths.append(storage.count - before)
    }

    private mutating func append(_ argument: any RedisArgumentConvertible) {
        let before = storage.count
        argument.appendRedisArgument(to: &storage)
        lengths.append(storage.count - before)
    }

    /// The command name, for logs and metrics (never the arguments: they may hold user data).
    public var name: String {
        String(decoding: storage.prefix(lengths[0]), as: UTF8.self)
    }

    /// Appends this command in RESP wire format (`*<argc>\r\n$<len>\r\n<bytes>\r\n...`). Every argument is
    /// length-prefixed, so its bytes are never interpreted.
    public func encodeRESP(into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        Int64(lengths.count).appendRedisArgument(to: &buffer)
        buffer.append(contentsOf: [13, 10])
        var offset = 0
        for length in lengths {
            buffer.append(UInt8(ascii: "$"))
            Int64(length).appendRedisArgument(to: &buffer)
            buffer.append(contentsOf: [13, 10])
            buffer.append(contentsOf: storage[offset..<(offset + length)])
            buffer.append(contentsOf: [13, 10])
            offset += length
        }
    }

    /// The arguments as separate byte arrays (for tests and diagnostics).
    public var arguments: [[UInt8]] {
        var result: [[UInt8]] = []
        var offset = 0
        for length in lengths {
            result.append(Array(storage[offset..<(offset + length)]))
            offset += length
        }
        return result
    }
}
