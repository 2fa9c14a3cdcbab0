import ClientRuntime
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One Redis connection owned by a NIO event loop: commands are written and replies parsed
/// (``RESPDecoder``) on that loop, without hiredis and without a thread of its own.
///
/// Why it exists beside ``RedisLane``: a request handler that runs on the same event loop (the
/// inference API pins its routes to their connection's loop) writes its commands and is resumed with the
/// replies on that one thread — no hand-off to a lane thread and back, which on a 2-core machine was the
/// largest remaining cost of an API request. Called from any other thread it still works, with one hop
/// to the loop. Everything after connect is non-blocking, so running it on the loop breaks no rule.
///
/// Commands submitted during one turn of the loop are written with one flush (automatic pipelining).
/// A connection that fails or times out fails what is in flight on it (outcome unknown, as with the
/// thread lanes) and is replaced on the next request, after the configured backoff.
final class RedisEventLoopLane: @unchecked Sendable {
    // @unchecked: every mutable field below is touched only on `eventLoop` (asserted in debug builds).
    private typealias Reply = CheckedContinuation<Result<[RedisValue], RedisError>, Never>

    private struct InFlight {
        var expected: Int
        var replies: [RedisValue]
        /// `nil` for the connection's own handshake (AUTH, SELECT): an error reply there fails the connection.
        var reply: Reply?
        var deadline: NIODeadline
    }

    private enum ConnectionState {
        case disconnected
        case connecting
        case connected(any Channel)
    }

    let eventLoop: any EventLoop
    private let configuration: RedisConfiguration
    /// `nil`: plaintext; else the client's TLS context, or why it could not be made.
    private let tls: Result<NIOSSLContext, RedisError>?
    private let logger: Logger
    private let connectedFlag = Atomic<Bool>(false)

    private var connection = ConnectionState.disconnected
    /// Requests that arrived while connecting, written once connected.
    private var waiting: [(commands: [RedisCommand], reply: Reply)] = []
    private var inFlight = CircularBuffer<InFlight>()
    private var outbound: ByteBuffer
    private var encoding: [UInt8] = []
    private var flushScheduled = false
    private var timeoutCheck: Scheduled<Void>?
    private var consecutiveFailures = 0
    private var nextConnectAllowed = NIODeadline.uptimeNanoseconds(0)
    private var lastConnectError = RedisError.connectionFailed("not connected yet")
    private var isShutDown = false

    init(eventLoop: any EventLoop, configuration: RedisConfiguration, tls: Result<NIOSSLContext, RedisError>? = nil, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.tls = tls
        self.logger = logger
        outbound = ByteBufferAllocator().buffer(capacity: 4096)
    }

    var isConnected: Bool { connectedFlag.load(ordering: .acquiring) }

    func submit(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        let result = await withCheckedContinuation { (reply: Reply) in
            if eventLoop.inEventLoop {
                enqueue(commands, reply)
            } else {
                eventLoop.execute { self.enqueue(commands, reply) }
            }
        }
        return try result.get()
    }

    func shutdown() async {
        let closed: EventLoopFuture<Void> = eventLoop.flatSubmit {
            self.isShutDown = true
            self.failAll(.shutDown)
            guard case .connected(let channel) = self.connection else { return self.eventLoop.makeSucceededVoidFuture() }
            self.connection = .disconnected
            self.connectedFlag.store(false, ordering: .releasing)
            return channel.close().recover { _ in }
        }
        try? await closed.get()
    }

    // MARK: - On the event loop

    private func enqueue(_ commands: [RedisCommand], _ reply: Reply) {
        eventLoop.assertInEventLoop()
        if isShutDown { return reply.resume(returning: .failure(.shutDown)) }
        guard waiting.count + inFlight.count < configuration.maximumQueuedRequests else { return reply.resume(returning: .failure(.overloaded)) }
        switch connection {
        case .connected(let channel):
            write(commands, reply: reply, to: channel)
        case .connecting:
            waiting.append((commands, reply))
        case .disconnected:
            guard NIODeadline.now() >= nextConnectAllowed else {
                // Still backing off after a failed connect: fail fast instead of hammering the server.
                return reply.resume(returning: .failure(lastConnectError))
            }
            waiting.append((commands, reply))
            connect()
        }
    }

    private func write(_ commands: [RedisCommand], reply: Reply?, to channel: any Channel) {
        // Encoded into one reused array, then copied into the outgoing buffer: no allocation per request.
        encoding.removeAll(keepingCapacity: true)
        for command in commands { command.encodeRESP(into: &encoding) }
        outbound.writeBytes(encoding)
        inFlight.append(InFlight(expected: commands.count, replies: [], reply: reply, deadline: .now() + TimeAmount(configuration.commandTimeout)))
        if timeoutCheck == nil { scheduleTimeoutCheck(at: inFlight[inFlight.startIndex].deadline) }
        guard !flushScheduled else { return }
        flushScheduled = true
        // Flush after the loop has run the tasks queued so far: requests resumed in the same turn share
        // one write and one round trip.
        eventLoop.execute { self.flush(channel) }
    }

    private func flush(_ channel: any Channel) {
        flushScheduled = false
        guard case .connected(let current) = connection, current === channel, outbound.readableBytes > 0 else { return }
        let bytes = outbound
        outbound = channel.allocator.buffer(capacity: 4096)
        channel.writeAndFlush(bytes, promise: nil)
    }

    private func connect() {
        connection = .connecting
        var sslContext: NIOSSLContext?
        switch tls {
        case nil: break
        case .success(let context): sslContext = context
        case .failure(let error): return connectFailed(error)
        }
        // Completed when TLS is up (at once without TLS); always completed, also when the connect fails.
        let handshake = eventLoop.makePromise(of: Void.self)
        if sslContext == nil { handshake.succeed() }
        let expectedHostname = configuration.tls?.expectedHostname(connectingTo: configuration.host)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandlers([
                            try NIOSSLClientHandler(context: sslContext, serverHostname: expectedHostname), RedisTLSHandshakeHandler(done: handshake),
                        ])
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(RESPDecoder()), RedisReplyHandler(lane: self, channel: channel),
                    ])
                }
            }
        let handshakeTimeout = sslContext.map { _ in
            eventLoop.scheduleTask(in: TimeAmount(configuration.connectTimeout)) {
                handshake.fail(RedisError.connectionFailed("no TLS handshake within \(self.configuration.connectTimeout)"))
            }
        }
        let address = "\(configuration.host):\(configuration.port)"
        bootstrap.connect(host: configuration.host, port: configuration.port).hop(to: eventLoop).whenComplete { result in
            switch result {
            case .success(let channel):
                handshake.futureResult.whenComplete { outcome in
                    handshakeTimeout?.cancel()
                    switch outcome {
                    case .success: self.connected(channel)
                    case .failure(let error):
                        channel.close(promise: nil)
                        self.connectFailed(.connectionFailed("\(address): TLS handshake failed: \(error)"))
                    }
                }
            case .failure(let error):
                handshakeTimeout?.cancel()
                handshake.fail(error)
                self.connectFailed(.connectionFailed("\(address): \(error)"))
            }
        }
    }

    private func connected(_ channel: any Channel) {
        guard !isShutDown else {
            channel.close(promise: nil)
            return
        }
        // Closed again before this ran (its handler's report was ignored while connecting).
        guard channel.isActive else { return connectFailed(.connectionFailed("closed by the server right after connecting")) }
        connection = .connected(channel)
        consecutiveFailures = 0
        connectedFlag.store(true, ordering: .releasing)
        // The handshake goes first on the wire; its replies come first.
        if let password = configuration.password {
            var auth = RedisCommand("AUTH")
            if let username = configuration.username { auth.append(username) }
            auth.append(password)
            write([auth], reply: nil, to: channel)
        }
        if configuration.database != 0 { write([RedisCommand("SELECT", configuration.database)], reply: nil, to: channel) }
        let queued = waiting
        waiting.removeAll()
        for request in queued { write(request.commands, reply: request.reply, to: channel) }
    }

    private func connectFailed(_ error: RedisError) {
        connection = .disconnected
        connectedFlag.store(false, ordering: .releasing)
        consecutiveFailures += 1
        lastConnectError = error
        nextConnectAllowed = .now() + TimeAmount(configuration.reconnectBackoff.delay(afterFailures: consecutiveFailures))
        logger.warning("redis connect failed", metadata: ["error": "\(error)"])
        failAll(error)
    }

    /// A reply arrived on `channel` (called by its handler, on the loop).
    fileprivate func received(_ value: RedisValue, on channel: any Channel) {
        guard case .connected(let current) = connection, current === channel, !inFlight.isEmpty else {
            return lose(channel, .unexpectedReply("a reply nobody waits for"))
        }
        inFlight[inFlight.startIndex].replies.append(value)
        guard inFlight[inFlight.startIndex].replies.count == inFlight[inFlight.startIndex].expected else { return }
        let done = inFlight.removeFirst()
        if let reply = done.reply {
            reply.resume(returning: .success(done.replies))
        } else if case .error(let message) = value {
            // AUTH or SELECT refused: nothing on this connection can be trusted.
            lose(channel, .connectionFailed(message))
        }
    }

    /// The connection failed, closed or timed out: what was in flight on it has an unknown outcome.
    fileprivate func lose(_ channel: any Channel, _ error: RedisError) {
        guard case .connected(let current) = connection, current === channel else { return }
        connection = .disconnected
        connectedFlag.store(false, ordering: .releasing)
        if case .connectionFailed = error {
            consecutiveFailures += 1
            lastConnectError = error
            nextConnectAllowed = .now() + TimeAmount(configuration.reconnectBackoff.delay(afterFailures: consecutiveFailures))
        }
        outbound.clear()
        failAll(error)
        channel.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        timeoutCheck?.cancel()
        timeoutCheck = nil
        let queued = waiting
        waiting.removeAll()
        let sent = inFlight
        inFlight.removeAll()
        for request in queued { request.reply.resume(returning: .failure(error)) }
        for request in sent { request.reply?.resume(returning: .failure(error)) }
    }

    private func scheduleTimeoutCheck(at deadline: NIODeadline) {
        timeoutCheck = eventLoop.scheduleTask(deadline: deadline) { [self] in
            timeoutCheck = nil
            guard !inFlight.isEmpty else { return }
            let oldest = inFlight[inFlight.startIndex].deadline
            if oldest <= .now(), case .connected(let channel) = connection {
                lose(channel, .connectionLost("no reply within \(configuration.commandTimeout)"))
            } else {
                scheduleTimeoutCheck(at: oldest)
            }
        }
    }
}

/// Hands decoded replies and connection failures of one channel to its lane.
private final class RedisReplyHandler: ChannelInboundHandler {
    typealias InboundIn = RedisValue

    private let lane: RedisEventLoopLane
    private let channel: any Channel

    init(lane: RedisEventLoopLane, channel: any Channel) {
        self.lane = lane
        self.channel = channel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lane.received(unwrapInboundIn(data), on: channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lane.lose(channel, .connectionLost("the server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        lane.lose(channel, (error as? RedisError) ?? .connectionLost("\(error)"))
    }
}
