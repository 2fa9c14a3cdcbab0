import NIOCore

/// Decodes RESP2 replies (`+`, `-`, `:`, `$`, `*`) from a byte stream, one ``RedisValue`` per complete
/// reply. A reply that has not fully arrived is left in the buffer untouched and parsed again from its
/// start when more bytes come; replies the API reads are a few kilobytes, so the re-parse is cheap.
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RedisValue

    /// Deeper nesting than any command we send produces is a protocol error, not a stack overflow.
    static let maximumDepth = 8

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try Self.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(value))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// One complete reply from the front of `buffer` (moving its reader index past it), or `nil` if
    /// the reply is incomplete (the reader index is left where it was).
    static func parse(_ buffer: inout ByteBuffer) throws(RedisError) -> RedisValue? {
        var cursor = buffer
        guard let value = try parseValue(&cursor, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: cursor.readerIndex)
        return value
    }

    private static func parseValue(_ buffer: inout ByteBuffer, depth: Int) throws(RedisError) -> RedisValue? {
        guard let marker = buffer.readInteger(as: UInt8.self) else { return nil }
        switch marker {
        case UInt8(ascii: "+"):
            return readLine(&buffer).map { .simpleString(String(decoding: $0, as: UTF8.self)) }
        case UInt8(ascii: "-"):
            return readLine(&buffer).map { .error(String(decoding: $0, as: UTF8.self)) }
        case UInt8(ascii: ":"):
            guard let line = readLine(&buffer) else { return nil }
            return .integer(try integer(line))
        case UInt8(ascii: "$"):
            guard let line = readLine(&buffer) else { return nil }
            let length = try integer(line)
            if length == -1 { return .null }
            guard length >= 0, length <= 512 * 1024 * 1024 else { throw .unexpectedReply("bulk string length \(length)") }
            guard buffer.readableBytes >= Int(length) + 2, let bytes = buffer.readBytes(length: Int(length)) else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .unexpectedReply("bulk string not followed by CRLF") }
            return .bulkString(bytes)
        case UInt8(ascii: "*"):
            guard let line = readLine(&buffer) else { return nil }
            let count = try integer(line)
            if count == -1 { return .null }
            guard count >= 0, depth < maximumDepth else { throw .unexpectedReply("array of \(count) at depth \(depth)") }
            var elements: [RedisValue] = []
            // Each element takes at least 3 bytes: do not trust a huge count before its bytes arrive.
            elements.reserveCapacity(min(Int(count), buffer.readableBytes / 3))
            for _ in 0..<count {
                guard let element = try parseValue(&buffer, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw .unexpectedReply("unknown RESP type byte \(marker)")
        }
    }

    /// The bytes up to the next CRLF (consumed with it), or `nil` if no CRLF has arrived yet.
    private static func readLine(_ buffer: inout ByteBuffer) -> ByteBufferView? {
        let view = buffer.readableBytesView
        guard let carriageReturn = view.firstIndex(of: 13), carriageReturn + 1 < view.endIndex else { return nil }
        let line = view[view.startIndex..<carriageReturn]
        buffer.moveReaderIndex(forwardBy: carriageReturn - view.startIndex + 2)
        return line
    }

    private static func integer(_ digits: ByteBufferView) throws(RedisError) -> Int64 {
        guard let value = ASCIIDecimal.int64(digits) else { throw .unexpectedReply("not an integer in a RESP header") }
        return value
    }
}
