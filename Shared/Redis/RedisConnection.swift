import CHiredis
import ClientRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking hiredis connection. Every method blocks the calling thread: call them only through
/// ``RedisClient``, which runs them on its ``BlockingExecutor`` and leases each connection to one task at a
/// time (hence `@unchecked Sendable`).
public final class RedisConnection: PooledConnection, @unchecked Sendable {
    private var context: UnsafeMutablePointer<redisContext>?
    /// Set once a command failed at the transport level; hiredis contexts are unusable after that.
    private var broken = false

    /// Connects and, when configured, authenticates and selects the database.
    public init(configuration: RedisConfiguration) throws(RedisError) {
        // hiredis 0.14 (no libhiredis_ssl) would connect in clear text and send AUTH's password so.
        guard configuration.tls == nil else {
            throw .connectionFailed("TLS needs redis.io = event_loops: the threads model (hiredis) has no TLS in this build")
        }
        let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), cTimeval(configuration.connectTimeout))
        guard let context else { throw .connectionFailed("out of memory") }
        if context.pointee.err != 0 {
            let reason = Self.errorString(context)
            redisFree(context)
            throw .connectionFailed("\(configuration.host):\(configuration.port): \(reason)")
        }
        self.context = context
        redisSetTimeout(context, cTimeval(configuration.commandTimeout))
        _ = redisEnableKeepAlive(context)
        do {
            if let password = configuration.password {
                var auth = RedisCommand("AUTH")
                if let username = configuration.username { auth.append(username) }
                auth.append(password)
                _ = try checkReply(execute(auth))
            }
            if configuration.database != 0 {
                _ = try checkReply(execute(RedisCommand("SELECT", configuration.database)))
            }
        } catch {
            close()
            if case .server(let message) = error { throw .connectionFailed(message) }
            throw error
        }
    }

    deinit { close() }

    public var isUsable: Bool {
        guard let context, !broken, context.pointee.err == 0 else { return false }
        // An idle connection has nothing to read. If the socket is readable, the server closed it
        // (restart, idle timeout) or sent something unexpected: either way, do not reuse it.
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        return ready == 0
    }

    public func close() {
        if let context {
            redisFree(context)
            self.context = nil
        }
    }

    /// Sends one command and reads its reply.
    public func execute(_ command: RedisCommand) throws(RedisError) -> RedisValue {
        try pipeline(CollectionOfOne(command))[0]
    }

    /// Writes all commands, then reads all replies: one round trip for the batch. Error replies are
    /// returned as ``RedisValue/error(_:)`` in their place.
    public func pipeline(_ commands: some Collection<RedisCommand>) throws(RedisError) -> [RedisValue] {
        guard let context, !broken else { throw .connectionLost("connection closed") }
        // Encode the whole batch once and hand it to hiredis's output buffer in one call; hiredis then
        // writes it with as few syscalls as the socket allows.
        var wire: [UInt8] = []
        wire.reserveCapacity(commands.reduce(0) { $0 + $1.storage.count + 16 * $1.lengths.count })
        for command in commands { command.encodeRESP(into: &wire) }
        let status = wire.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        if status != REDIS_OK {
            broken = true
            throw .connectionLost(Self.errorString(context))
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in 0..<commands.count {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                broken = true
                throw .connectionLost(Self.errorString(context))
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.value(of: reply))
            freeReplyObject(raw)
        }
        return replies
    }

    private func checkReply(_ value: RedisValue) throws(RedisError) -> RedisValue {
        if case .error(let message) = value { throw .server(message) }
        return value
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let reply = reply.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulkString(bytes(reply.str, reply.len))
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                if let element = reply.element[index] { elements.append(value(of: element)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .error("unsupported reply type \(reply.type)")
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length).bindMemory(to: UInt8.self))
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            let text = String(decoding: bytes[..<end], as: UTF8.self)
            return text.isEmpty ? "error \(context.pointee.err)" : text
        }
    }
}

private func cTimeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}
