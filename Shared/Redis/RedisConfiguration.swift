import ClientRuntime

/// Where and how the Redis client connects. Every field has a default suitable for a local server.
public struct RedisConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// ACL user name (Redis 6+); `nil` uses the default user.
    public var username: String?
    /// `AUTH` password; `nil` means no authentication.
    public var password: String?
    /// Logical database (`SELECT`).
    public var database: Int
    /// Bound on establishing a TCP connection.
    public var connectTimeout: Duration
    /// Bound on each command (socket send/receive timeout). A command that times out loses its
    /// connection, since its reply could arrive later.
    public var commandTimeout: Duration
    /// Pool size, acquire timeout and reconnection backoff.
    public var pool: ConnectionPoolConfiguration

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(5),
        pool: ConnectionPoolConfiguration = .init()
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.pool = pool
    }
}
