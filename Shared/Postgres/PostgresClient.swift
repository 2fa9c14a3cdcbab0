import ClientRuntime
import Logging

/// An async PostgreSQL client over libpq: a bounded pool of blocking connections whose calls run on the
/// client's own threads.
///
/// ```swift
/// let postgres = PostgresClient(configuration: .init(port: 5432, password: "secret"))
/// let rows = try await postgres.query("SELECT title FROM movies WHERE movie_id = \(id)")
/// try await postgres.withTransaction { tx in
///     try await tx.query("UPDATE ...")
///     try await tx.query("INSERT ...")
/// }
/// ```
public final class PostgresClient: Sendable {
    public let configuration: PostgresConfiguration
    private let executor: BlockingExecutor
    private let pool: ConnectionPool<PostgresConnection>
    let logger: Logger

    public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "streamrec.postgres")) {
        self.configuration = configuration
        self.logger = logger
        let executor = BlockingExecutor(threads: configuration.pool.maximumConnections)
        self.executor = executor
        pool = ConnectionPool(configuration: configuration.pool) {
            do {
                return try await executor.run { try PostgresConnection(configuration: configuration) }
            } catch {
                logger.warning("postgres connect failed", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }

    /// Runs one statement on a pooled connection (autocommit).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> PostgresRows {
        try await lease { session throws(PostgresError) in try await session.query(query) }
    }

    /// Bulk-loads rows with `COPY ... FROM STDIN` in binary format (each value's Swift type must be its
    /// column's, ``PostgresBinaryEncodable``); returns the number of rows copied. All or nothing.
    @discardableResult
    public func copyIn(
        table: String, columns: [String], rows: [[(any PostgresBinaryEncodable)?]]
    ) async throws(PostgresError) -> Int {
        try await lease { session throws(PostgresError) in try await session.copyIn(table: table, columns: columns, rows: rows) }
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT` on one connection; any thrown error rolls back.
    public func withTransaction<Result: Sendable>(
        _ body: (PostgresSession) async throws -> Result
    ) async throws -> Result {
        try await withConnection { session in
            try await session.query("BEGIN")
            do {
                let result = try await body(session)
                try await session.query("COMMIT")
                return result
            } catch {
                // If ROLLBACK fails too the connection is broken and the pool discards it.
                _ = try? await session.query("ROLLBACK")
                throw error
            }
        }
    }

    /// Leases one connection for several statements (e.g. session-level settings or advisory locks).
    /// Errors thrown by `body` pass through unchanged; pool failures become ``PostgresError``.
    public func withConnection<Result: Sendable>(
        _ body: (PostgresSession) async throws -> Result
    ) async throws -> Result {
        do {
            return try await pool.withConnection { connection in
                try await body(PostgresSession(connection: connection, executor: executor))
            }
        } catch ConnectionPoolError.acquireTimedOut {
            throw PostgresError.poolTimeout
        } catch ConnectionPoolError.shutDown {
            throw PostgresError.shutDown
        }
    }

    /// ``withConnection(_:)`` for bodies that only throw ``PostgresError``.
    func lease<Result: Sendable>(
        _ body: (PostgresSession) async throws(PostgresError) -> Result
    ) async throws(PostgresError) -> Result {
        do {
            return try await withConnection(body)
        } catch let error as PostgresError {
            throw error
        } catch {
            throw .connectionLost("\(error)")
        }
    }

    /// Closes all connections and stops the client's threads.
    public func shutdown() async {
        pool.shutdown()
        await executor.shutdown()
    }

    public var openConnections: Int { pool.openConnections }
}

/// A leased connection: statements run on the client's blocking threads, in order.
public struct PostgresSession: Sendable {
    let connection: PostgresConnection
    let executor: BlockingExecutor

    @discardableResult
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> PostgresRows {
        try await run { (connection) throws(PostgresError) -> PostgresRows in try connection.query(query) }
    }

    @discardableResult
    public func copyIn(
        table: String, columns: [String], rows: [[(any PostgresBinaryEncodable)?]]
    ) async throws(PostgresError) -> Int {
        try await run { (connection) throws(PostgresError) -> Int in
            try connection.copyIn(table: table, columns: columns, rows: rows)
        }
    }

    /// Several statements of trusted SQL text (migration files); no parameters.
    public func executeScript(_ sql: String) async throws(PostgresError) {
        try await run { (connection) throws(PostgresError) in try connection.executeScript(sql) }
    }

    private func run<Result: Sendable>(
        _ work: @escaping @Sendable (PostgresConnection) throws(PostgresError) -> Result
    ) async throws(PostgresError) -> Result {
        let connection = connection
        do {
            return try await executor.run { () throws -> Result in try work(connection) }
        } catch let error as PostgresError {
            throw error
        } catch {
            throw .shutDown
        }
    }
}
