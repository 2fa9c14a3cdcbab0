import Hummingbird
import HummingbirdCore
import NIOCore
import ServiceConfiguration

/// The HTTP/1.1 server of every service: connections that send or receive nothing for `idleTimeout` are
/// closed, which bounds what a stalled client (a slow-loris partial body) can hold.
public enum HTTPServerSettings {
    public static let idleTimeoutKey = ConfigKey(
        "http.idle_timeout", default: "30s", "A connection with no bytes in or out for this long is closed (bounds stalled and slow-loris clients)"
    )

    public static let pinToEventLoopKey = ConfigKey(
        "http.pin_to_event_loop", default: "false",
        "Run each connection's routes on the connection's NIO event loop instead of the Swift cooperative pool (two fewer thread hand-offs per request, but a connection's requests stay on one core; false: Hummingbird's default)"
    )

    public static let requestTimeoutKey = ConfigKey(
        "http.request_read_timeout", default: "30s",
        "A request (head and body) must arrive within this long of the connection opening or the previous response; otherwise the connection is closed (bounds slow-loris clients that trickle bytes)"
    )

    /// Off by default: a line per request costs on the hot paths (the recommendations route answers in ~1 ms).
    public static let accessLogKey = ConfigKey(
        "http.access_log", default: "false",
        "Log one info line per request (method, route template, status, duration_ms, request_id as metadata; AccessLogMiddleware)"
    )

    public static let maximumConnectionsKey = ConfigKey(
        "http.max_connections", default: "4096", "Connections held open at once; one more is closed as soon as it is accepted"
    )

    public static let defaultRequestReadTimeout: Duration = .seconds(30)
    public static let defaultMaximumConnections = 4096

    public static func server(
        idleTimeout: Duration, requestReadTimeout: Duration = defaultRequestReadTimeout, maximumConnections: Int = defaultMaximumConnections,
        pinnedToEventLoop: Bool = false
    ) -> HTTPServerBuilder {
        let connections = ConnectionLimit.Counter(maximum: maximumConnections)
        let deadline = TimeAmount(requestReadTimeout)
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionLimit(counter: connections), RequestReadDeadline(timeout: deadline)],
            idleTimeout: TimeAmount(idleTimeout)
        )
        return pinnedToEventLoop ? pinnedHTTP1(configuration: configuration) : .http1(configuration: configuration)
    }
}

extension HTTPServerSettings {
    /// `.http1`, with each connection's task pinned to the connection's event loop (see
    /// ``EventLoopPinnedChildChannel``).
    static func pinnedHTTP1(configuration: HTTP1Channel.Configuration) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            EventLoopPinnedChildChannel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
