/// Errors from the Redis client. `isRetriable` says whether the same command may succeed if sent
/// again later (the server or network was unavailable), as opposed to a command the server rejects.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Could not connect (refused, unreachable, connect timeout).
    case connectionFailed(String)
    /// The connection broke or timed out during a command; its outcome on the server is unknown.
    case connectionLost(String)
    /// The server answered with an error reply, e.g. `WRONGTYPE ...` or `NOSCRIPT ...`.
    case server(String)
    /// Too many requests are queued on the client: back off and retry.
    case overloaded
    /// The client was shut down.
    case shutDown
    /// A reply did not have the shape the caller expected.
    case unexpectedReply(String)

    public var isRetriable: Bool {
        switch self {
        case .connectionFailed, .connectionLost, .overloaded: true
        // CLUSTERDOWN and MASTERDOWN pass once a lost master is back or replaced.
        case .server(let message):
            message.hasPrefix("LOADING") || message.hasPrefix("BUSY") || message.hasPrefix("TRYAGAIN")
                || message.hasPrefix("CLUSTERDOWN") || message.hasPrefix("MASTERDOWN")
        case .shutDown, .unexpectedReply: false
        }
    }

    /// The error code of a server error reply (`WRONGTYPE`, `NOSCRIPT`, `ERR`, ...).
    public var serverErrorCode: String? {
        guard case .server(let message) = self else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    public var description: String {
        switch self {
        case .connectionFailed(let reason): "Redis connection failed: \(reason)"
        case .connectionLost(let reason): "Redis connection lost: \(reason)"
        case .server(let message): "Redis error reply: \(message)"
        case .overloaded: "too many Redis requests queued on this client"
        case .shutDown: "the Redis client was shut down"
        case .unexpectedReply(let what): "unexpected Redis reply: \(what)"
        }
    }
}
