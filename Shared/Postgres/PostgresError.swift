/// What a PostgreSQL server said when it rejected a statement.
public struct PostgresServerError: Sendable, Hashable {
    /// The five-character SQLSTATE, e.g. `23505` (unique violation), `57014` (query canceled).
    public var sqlState: String
    public var message: String
    public var detail: String?
    public var hint: String?
}

/// Errors from the PostgreSQL client. `isRetriable` says whether the same work may succeed later.
public enum PostgresError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Could not connect or authenticate.
    case connectionFailed(String)
    /// The connection broke during a statement; whether it was applied is unknown unless it ran
    /// inside a transaction (then it was not).
    case connectionLost(String)
    /// The server rejected the statement.
    case server(PostgresServerError)
    /// The statement ran longer than the configured statement timeout and was cancelled by the server.
    case statementTimeout(String)
    /// A bind parameter cannot be sent (e.g. text containing a NUL byte, which PostgreSQL cannot store).
    case invalidParameter(index: Int, reason: String)
    /// A column value could not be decoded as the requested Swift type.
    case decoding(String)
    /// A schema migration failed or an applied migration file was changed afterwards.
    case migration(String)
    /// No pooled connection became free in time.
    case poolTimeout
    /// The client was shut down.
    case shutDown

    public var isRetriable: Bool {
        switch self {
        case .connectionFailed, .connectionLost, .poolTimeout, .statementTimeout:
            return true
        case .server(let error):
            // 40: serialization failure / deadlock; 53: insufficient resources; 57P0x: server shutting down;
            // 08: connection exceptions.
            return error.sqlState.hasPrefix("40") || error.sqlState.hasPrefix("53")
                || error.sqlState.hasPrefix("57P0") || error.sqlState.hasPrefix("08")
        case .invalidParameter, .decoding, .migration, .shutDown:
            return false
        }
    }

    /// The SQLSTATE for server errors (`57014` for a statement timeout too).
    public var sqlState: String? {
        switch self {
        case .server(let error): error.sqlState
        case .statementTimeout: "57014"
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .connectionFailed(let reason): "PostgreSQL connection failed: \(reason)"
        case .connectionLost(let reason): "PostgreSQL connection lost: \(reason)"
        case .server(let error):
            "PostgreSQL error \(error.sqlState): \(error.message)" + (error.detail.map { " (\($0))" } ?? "")
        case .statementTimeout(let message): "PostgreSQL statement timeout: \(message)"
        case .invalidParameter(let index, let reason): "PostgreSQL parameter $\(index + 1): \(reason)"
        case .decoding(let reason): "PostgreSQL decoding: \(reason)"
        case .migration(let reason): "PostgreSQL migration: \(reason)"
        case .poolTimeout: "no PostgreSQL connection became free in time"
        case .shutDown: "the PostgreSQL client was shut down"
        }
    }
}
