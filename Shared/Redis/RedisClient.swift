import ClientRuntime
import Logging
import Synchronization

/// An async Redis client over hiredis: a bounded pool of blocking connections whose calls run on the
/// client's own threads.
///
/// ```swift
/// let redis = RedisClient(configuration: .init(port: 6379))
/// try await redis.send(RedisCommand("SET", "k", [0, 10, 42] as [UInt8]))
/// let replies = try await redis.pipeline([RedisCommand("INCR", "a"), RedisCommand("INCR", "b")])
/// ```
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    private let executor: BlockingExecutor
    private let pool: ConnectionPool<RedisConnection>
    private let logger: Logger

    public init(configuration: RedisConfiguration, logger: Logger = Logger(label: "streamrec.redis")) {
        self.configuration = configuration
        self.logger = logger
        let executor = BlockingExecutor(threads: configuration.pool.maximumConnections)
        self.executor = executor
        pool = ConnectionPool(configuration: configuration.pool) {
            do {
                return try await executor.run { try RedisConnection(configuration: configuration) }
            } catch {
                logger.warning("redis connect failed", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }

    /// Sends one command. An error reply is thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        let value = try await withConnection { (connection) throws(RedisError) -> RedisValue in try connection.execute(command) }
        if case .error(let message) = value { throw .server(message) }
        return value
    }

    /// Sends a command given by name and arguments (`send("ZINCRBY", key, 1.0, member)`).
    @discardableResult
    public func send(_ name: String, _ arguments: any RedisArgumentConvertible...) async throws(RedisError) -> RedisValue {
        try await send(RedisCommand(name, arguments: arguments))
    }

    /// Sends all commands in one round trip on one connection. Replies come back in order; error
    /// replies are values (``RedisValue/error(_:)``), so the caller sees which command failed.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        return try await withConnection { (connection) throws(RedisError) -> [RedisValue] in try connection.pipeline(commands) }
    }

    /// Runs a Lua script by SHA (`EVALSHA`), loading it first if this client has not yet, and again
    /// when the server answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
    @discardableResult
    public func evaluate(
        _ script: RedisScript, keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]
    ) async throws(RedisError) -> RedisValue {
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

    /// Closes all connections and stops the client's threads.
    public func shutdown() async {
        pool.shutdown()
        await executor.shutdown()
    }

    /// Connections currently open, for metrics and tests.
    public var openConnections: Int { pool.openConnections }

    private func withConnection<Result: Sendable>(
        _ work: @escaping @Sendable (RedisConnection) throws(RedisError) -> Result
    ) async throws(RedisError) -> Result {
        do {
            return try await pool.withConnection { connection in
                try await executor.run { () throws -> Result in try work(connection) }
            }
        } catch let error as RedisError {
            throw error
        } catch ConnectionPoolError.acquireTimedOut {
            throw .poolTimeout
        } catch {
            throw .shutDown
        }
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
