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
    /// Connections to the server. Each has its own I/O thread ("lane"); requests are spread over the
    /// lanes and, under load, those queued on one lane are written together (automatic pipelining).
    public var connections: Int
    /// How requests pick a lane. 0: round-robin over all lanes (spreads a few large pipelines, as the
    /// processor sends). N > 0: the first lane with fewer than N requests queued or in flight, the least
    /// loaded when all have N — many small requests (the API's) then share one lane's round trips instead
    /// of waking every lane's thread for each, and further lanes join only under load.
    public var laneFill: Int
    /// Requests waiting on one lane before new ones fail fast with ``RedisError/overloaded`` (a thread
    /// lane counts those queued behind the batch it is sending; an event-loop lane, which writes at once,
    /// counts every request not yet answered).
    public var maximumQueuedRequests: Int
    /// Pacing of reconnection attempts after a failed connect.
    public var reconnectBackoff: Backoff
    /// Who does the I/O: lanes with threads of their own (blocking hiredis; `connections` of them), or
    /// one connection per NIO event loop of the client's group (callers on those loops need no thread
    /// hand-off, others go round-robin; `connections` and `laneFill` are then unused).
    public var io: IOModel
    /// TLS to the server; `nil`: plaintext. Needs ``IOModel/eventLoops`` (see ``RedisTLS``).
    public var tls: RedisTLS?
    /// Redis Cluster mode: `host`/`port` are a seed node; the client learns the slot map from it
    /// (`CLUSTER SLOTS`), keeps lanes per master (of the `io` model; `connections` per master) and routes
    /// every command by its key's slot, following `MOVED` and `ASK`. Default false: one server.
    public var cluster: Bool

    public enum IOModel: String, Sendable, Hashable {
        case threads
        case eventLoops = "event_loops"
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(5),
        connections: Int = 4,
        laneFill: Int = 0,
        maximumQueuedRequests: Int = 10_000,
        reconnectBackoff: Backoff = .init(),
        io: IOModel = .threads,
        tls: RedisTLS? = nil,
        cluster: Bool = false
    ) {
        precondition(connections > 0, "Redis needs at least one connection")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.connections = connections
        self.laneFill = laneFill
        self.maximumQueuedRequests = maximumQueuedRequests
        self.reconnectBackoff = reconnectBackoff
        self.io = io
        self.tls = tls
        self.cluster = cluster
    }
}
