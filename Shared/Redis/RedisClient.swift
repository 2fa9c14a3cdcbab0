import ClientRuntime
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// An async Redis client: blocking hiredis connections on threads of their own (the default, below), or
/// non-blocking connections on NIO event loops.
///
/// Each of ``RedisConfiguration/connections`` connections is served by its own thread (a lane), so
/// hiredis's blocking calls never run on a NIO event loop or the Swift cooperative pool. Requests are
/// spread over the lanes round-robin; a lane writes every request queued while it was busy in one
/// batch and reads all their replies (automatic pipelining), which keeps thread hand-offs and syscalls
/// per command low under load. Lanes reconnect by themselves, with backoff, after a failure.
///
/// ```swift
/// let redis = RedisClient(configuration: .init(port: 6379))
/// try await redis.send(RedisCommand("SET", "k", [0, 10, 42] as [UInt8]))
/// let replies = try await redis.pipeline([RedisCommand("INCR", "a"), RedisCommand("INCR", "b")])
/// ```
/// With ``RedisConfiguration/IOModel/eventLoops`` the lanes are instead one connection per NIO event
/// loop (``RedisEventLoopLane``), and a caller running on one of those loops uses that loop's connection.
///
/// With ``RedisConfiguration/cluster`` the client speaks to a Redis Cluster (``RedisCluster``): the configured
/// host and port are a seed from which the slot map is learned, each master gets lanes of its own (of the
/// configured I/O model), and every command, pipeline, transaction and script is routed to its slot's master,
/// following `MOVED` and `ASK`. The API is the same.
///
/// Blocking commands (`BLPOP`, `SUBSCRIBE`) would hold a lane; this client is not meant for them.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    private let lanes: Lanes
    private let nextLane = Atomic<Int>(0)
    private let logger: Logger

    /// `eventLoopGroup` is used only with ``RedisConfiguration/IOModel/eventLoops``: pass the group the
    /// callers run on (the HTTP server's; by default both use NIO's singleton group).
    public init(
        configuration: RedisConfiguration, logger: Logger = Logger(label: "streamrec.redis"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        if configuration.cluster {
            lanes = .cluster(RedisCluster(configuration: configuration, logger: logger, eventLoopGroup: eventLoopGroup))
            return
        }
        switch configuration.io {
        case .threads:
            lanes = .threads((0..<configuration.connections).map { RedisLane(index: $0, configuration: configuration, logger: logger) })
        case .eventLoops:
            // One TLS context (certificates read once) for all connections; a bad file fails every connect.
            let tls = configuration.tls.map { tls in Result { () throws(RedisError) in try tls.makeContext() } }
            lanes = .eventLoops(eventLoopGroup.makeIterator().map { RedisEventLoopLane(eventLoop: $0, configuration: configuration, tls: tls, logger: logger) })
        }
    }

    private enum Lanes {
        case threads([RedisLane])
        case eventLoops([RedisEventLoopLane])
        /// A client per master, and the routing between them.
        case cluster(RedisCluster)
    }

    /// Sends one command. An error reply is thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        let value = try await pipeline([command])[0]
        if case .error(let message) = value { throw .server(message) }
        return value
    }

    /// Sends a command given by name and arguments (`send("ZINCRBY", key, 1.0, member)`).
    @discardableResult
    public func send(_ name: String, _ arguments: any RedisArgumentConvertible...) async throws(RedisError) -> RedisValue {
        try await send(RedisCommand(name, arguments: arguments))
    }

    /// Sends all commands back to back on one connection and returns their replies in order. Error
    /// replies are values (``RedisValue/error(_:)``), so the caller sees which command failed; no other
    /// request's commands are interleaved with these.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        switch lanes {
        case .threads(let lanes):
            return try await chooseLane(lanes).submit(commands)
        case .eventLoops(let lanes):
            // The caller's own loop's connection if it runs on one (no hand-off at all); else round-robin.
            let lane = lanes.first { $0.eventLoop.inEventLoop } ?? lanes[nextLane.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count]
            return try await lane.submit(commands)
        case .cluster(let cluster):
            return try await cluster.execute(commands)
        }
    }

    /// Sends `commands` in order, split into contiguous pipelines that run at once, one per connection,
    /// and returns the replies in order. For thousands of independent commands: in one pipeline, one
    /// connection's thread encodes and decodes them all. A `MULTI` … `EXEC` block is never split. Commands
    /// of different pipelines may run in any order, so the caller sends only commands whose order does not
    /// matter across blocks. Fewer than `minimumPart` commands per connection go as one pipeline.
    public func pipelineAcrossConnections(_ commands: [RedisCommand], minimumPart: Int = 512) async throws(RedisError) -> [RedisValue] {
        let connections: Int
        switch lanes {
        case .threads(let lanes): connections = lanes.count
        case .eventLoops(let lanes): connections = lanes.count
        case .cluster(let cluster):
            // Each master's share is split over that master's connections.
            guard !commands.isEmpty else { return [] }
            return try await cluster.execute(commands, minimumPart: minimumPart)
        }
        let count = min(connections, commands.count / max(1, minimumPart))
        guard count > 1 else { return try await pipeline(commands) }
        var ranges: [Range<Int>] = []
        var start = 0
        var inTransaction = false
        let target = (commands.count + count - 1) / count
        for (index, command) in commands.enumerated() {
            let name = command.name
            if name == "MULTI" { inTransaction = true } else if name == "EXEC" { inTransaction = false }
            if !inTransaction, index + 1 - start >= target, index + 1 < commands.count {
                ranges.append(start..<(index + 1))
                start = index + 1
            }
        }
        ranges.append(start..<commands.count)
        do {
            return try await withThrowingTaskGroup(of: (Int, [RedisValue]).self) { group in
                for (part, range) in ranges.enumerated() {
                    let slice = Array(commands[range])
                    group.addTask { (part, try await self.pipeline(slice)) }
                }
                var results = [[RedisValue]](repeating: [], count: ranges.count)
                for try await (part, replies) in group { results[part] = replies }
                return results.flatMap { $0 }
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionLost("\(error)")
        }
    }

    /// Runs the commands as one `MULTI`/`EXEC` transaction: no other client's command runs between them
    /// (what reading several keys as of one instant needs). Returns their replies in order; error replies
    /// are values, as in ``pipeline(_:)``. On a cluster, all keys must share a hash slot.
    public func transaction(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        let replies = try await pipeline([RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")])
        let exec = replies[replies.count - 1]
        if case .error(let message) = exec { throw .server(message) }  // EXECABORT: a command was refused when queued
        guard let results = exec.array, results.count == commands.count else { throw .unexpectedReply("EXEC returned \(exec)") }
        return results
    }

    /// Round-robin, or fill-first (``RedisConfiguration/laneFill``).
    private func chooseLane(_ lanes: [RedisLane]) -> RedisLane {
        let fill = configuration.laneFill
        guard fill > 0 else { return lanes[nextLane.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count] }
        var leastLoaded = lanes[0]
        var leastLoad = Int.max
        for lane in lanes {
            let load = lane.pending.load(ordering: .relaxed)
            if load < fill { return lane }
            if load < leastLoad { (leastLoaded, leastLoad) = (lane, load) }
        }
        return leastLoaded
    }

    /// Runs a Lua script by SHA (`EVALSHA`), loading it first if this client has not yet, and again
    /// when the server answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
    @discardableResult
    public func evaluate(
        _ script: RedisScript, keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]
    ) async throws(RedisError) -> RedisValue {
        if case .cluster(let cluster) = lanes {
            let sha = try await script.sha(loadingWith: self)
            var command = RedisCommand("EVALSHA", sha, keys.count)
            for key in keys { command.append(key) }
            for argument in arguments { command.append(argument) }
            return try await cluster.evaluate(script, sha: sha, evalsha: command)
        }
        for attempt in 0..<2 {
            let sha = try await script.sha(loadingWith: self)
            var command = RedisCommand("EVALSHA", sha, keys.count)
            for key in keys { command.append(key) }
            for argument in arguments { command.append(argument) }
            do {
                return try await send(command)
            } catch where error.serverErrorCode == "NOSCRIPT" && attempt == 0 {
                logger.info("redis script cache was flushed; reloading", metadata: ["sha": "\(sha)"])
                script.forgetSHA()
            }
        }
        throw .unexpectedReply("NOSCRIPT after reloading the script")
    }

    /// Fails queued requests, closes the connections and stops the lane threads.
    public func shutdown() async {
        switch lanes {
        case .threads(let lanes): for lane in lanes { await lane.shutdown() }
        case .eventLoops(let lanes): for lane in lanes { await lane.shutdown() }
        case .cluster(let cluster): await cluster.shutdown()
        }
    }

    /// The masters this client sends to: a cluster's, as its slot map names them (read first if needed);
    /// the one configured server otherwise.
    public func masters() async throws(RedisError) -> [RedisNodeAddress] {
        if case .cluster(let cluster) = lanes { return try await cluster.masters() }
        return [RedisNodeAddress(host: configuration.host, port: configuration.port)]
    }

    /// Sends one command to one master named by ``masters()``, whatever its keys (`SCAN`, `DBSIZE`,
    /// `FLUSHALL` per node). Error replies are values, as in a pipeline. Without cluster mode `node` must be
    /// the configured server.
    public func send(_ command: RedisCommand, toMaster node: RedisNodeAddress) async throws(RedisError) -> RedisValue {
        if case .cluster(let cluster) = lanes { return try await cluster.node(node).pipeline([command])[0] }
        return try await pipeline([command])[0]
    }

    /// Sends one command to every master (`FLUSHALL`, `SCRIPT FLUSH`, `DBSIZE` on a cluster); replies in the
    /// order of ``masters()``, error replies as values.
    public func sendToEveryMaster(_ command: RedisCommand) async throws(RedisError) -> [RedisValue] {
        if case .cluster(let cluster) = lanes { return try await cluster.sendToEveryMaster(command) }
        return try await pipeline([command])
    }

    /// Redirections followed and slot map reads so far (all zero without cluster mode).
    public var clusterRedirections: RedisRedirectionCounts {
        if case .cluster(let cluster) = lanes { return cluster.redirectionCounts }
        return RedisRedirectionCounts()
    }

    /// Reads the cluster's slot map again now (it is read by itself on a redirection or a lost node);
    /// does nothing without cluster mode.
    public func refreshClusterSlots() async throws(RedisError) {
        if case .cluster(let cluster) = lanes { try await cluster.refreshSlotMap() }
    }

    /// Connections currently open, for metrics and tests.
    public var openConnections: Int {
        switch lanes {
        case .threads(let lanes): lanes.count { $0.isConnected }
        case .eventLoops(let lanes): lanes.count { $0.isConnected }
        case .cluster(let cluster): cluster.openConnections
        }
    }
}

/// One blocking hiredis connection and the thread that owns it.
final class RedisLane: Sendable {
    private typealias Reply = CheckedContinuation<Result<[RedisValue], RedisError>, Never>

    private struct Request {
        var commands: [RedisCommand]
        var reply: Reply
    }

    private struct State {
        var queue: [Request] = []
        var isShutDown = false
        var stopped: CheckedContinuation<Void, Never>?
        var threadFinished = false
    }

    /// Requests drained into one write at most; the rest wait for the next round.
    private static let maximumBatchCommands = 4096
    /// A connection idle for longer is checked (without a round trip) before use.
    private static let idleCheckAfter: Duration = .milliseconds(100)

    private let configuration: RedisConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let connected = Atomic<Bool>(false)
    /// Requests submitted and not yet answered (queued or in flight), for fill-first lane choice.
    let pending = Atomic<Int>(0)

    init(index: Int, configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let thread = Thread { [self] in run() }
        thread.name = "redis-lane-\(index)"
        thread.start()
    }

    var isConnected: Bool { connected.load(ordering: .acquiring) }

    func submit(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        pending.add(1, ordering: .relaxed)
        defer { pending.subtract(1, ordering: .relaxed) }
        let result = await withCheckedContinuation { (reply: Reply) in
            let refusal = state.withLock { state -> RedisError? in
                if state.isShutDown { return .shutDown }
                if state.queue.count >= configuration.maximumQueuedRequests { return .overloaded }
                state.queue.append(Request(commands: commands, reply: reply))
                return nil
            }
            if let refusal {
                reply.resume(returning: .failure(refusal))
            } else {
                wakeUp.signal()
            }
        }
        return try result.get()
    }

    func shutdown() async {
        await withCheckedContinuation { (stopped: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state -> Bool in
                state.isShutDown = true
                if state.threadFinished { return true }
                state.stopped = stopped
                return false
            }
            if finished { stopped.resume() } else { wakeUp.signal() }
        }
    }

    // MARK: - Lane thread

    private func run() {
        var connection: RedisConnection?
        var lastUsed = ContinuousClock.now
        var consecutiveFailures = 0
        var nextConnectAllowed = ContinuousClock.now
        var lastConnectError = RedisError.connectionFailed("not connected yet")

        while true {
            wakeUp.wait()
            let (batch, isShutDown) = state.withLock { state -> ([Request], Bool) in
                var taken = 0
                var commands = 0
                while taken < state.queue.count, commands < Self.maximumBatchCommands || taken == 0 {
                    commands += state.queue[taken].commands.count
                    taken += 1
                }
                let batch = Array(state.queue.prefix(taken))
                state.queue.removeFirst(taken)
                // More left: make sure the next round runs even if nobody signals again.
                if !state.queue.isEmpty { wakeUp.signal() }
                return (batch, state.isShutDown)
            }
            if isShutDown {
                let rest = state.withLock { state -> [Request] in
                    defer { state.queue.removeAll() }
                    return state.queue
                }
                for request in batch + rest { request.reply.resume(returning: .failure(.shutDown)) }
                break
            }
            guard !batch.isEmpty else { continue }

            // A connection idle for a while may have been closed by the server (restart, timeout).
            if let current = connection, ContinuousClock.now - lastUsed > Self.idleCheckAfter, !current.isUsable {
                current.close()
                connection = nil
                connected.store(false, ordering: .releasing)
            }
            if connection == nil {
                if ContinuousClock.now < nextConnectAllowed {
                    // Still backing off after a failed connect: fail fast instead of hammering the server.
                    for request in batch { request.reply.resume(returning: .failure(lastConnectError)) }
                    continue
                }
                do {
                    connection = try RedisConnection(configuration: configuration)
                    consecutiveFailures = 0
                    connected.store(true, ordering: .releasing)
                } catch {
                    consecutiveFailures += 1
                    lastConnectError = error
                    nextConnectAllowed = .now.advanced(by: configuration.reconnectBackoff.delay(afterFailures: consecutiveFailures))
                    logger.warning("redis connect failed", metadata: ["error": "\(error)"])
                    for request in batch { request.reply.resume(returning: .failure(error)) }
                    continue
                }
            }
            guard let current = connection else { continue }
            do {
                let replies = try current.pipeline(batch.lazy.flatMap(\.commands))
                lastUsed = .now
                var offset = 0
                for request in batch {
                    let count = request.commands.count
                    request.reply.resume(returning: .success(Array(replies[offset..<(offset + count)])))
                    offset += count
                }
            } catch {
                // The outcome of commands in flight is unknown; the connection is not reused.
                current.close()
                connection = nil
                connected.store(false, ordering: .releasing)
                for request in batch { request.reply.resume(returning: .failure(error)) }
            }
        }
        connection?.close()
        connected.store(false, ordering: .releasing)
        let stopped = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.threadFinished = true
            return state.stopped
        }
        stopped?.resume()
    }
}

/// A Lua script run with `EVALSHA`. The server computes and caches its SHA on `SCRIPT LOAD`; this type
/// remembers it and reloads on `NOSCRIPT`.
public final class RedisScript: Sendable {
    public let source: String
    private let loadedSHA = Mutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    /// The SHA the server reported at the last `SCRIPT LOAD`, if loaded.
    public var currentSHA: String? { loadedSHA.withLock { $0 } }

    func sha(loadingWith client: RedisClient) async throws(RedisError) -> String {
        if let sha = loadedSHA.withLock({ $0 }) { return sha }
        let reply = try await client.send(RedisCommand("SCRIPT", "LOAD", source))
        guard let sha = reply.string else { throw .unexpectedReply("SCRIPT LOAD returned \(reply)") }
        loadedSHA.withLock { $0 = sha }
        return sha
    }

    func forgetSHA() {
        loadedSHA.withLock { $0 = nil }
    }
}
