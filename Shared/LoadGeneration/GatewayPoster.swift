import Events
import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive HTTP/1.1 connection, one request at a time: the load generators' client (the gateway's
/// `POST /v1/events/batch`, the API's recommendations).
public final class HTTPConnection: Sendable {
    public typealias Send = (_ method: HTTPMethod, _ path: String, _ headers: [(String, String)], _ body: String?) async throws -> (status: Int, body: String)

    private let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    private let host: String

    public static func connect(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> HTTPConnection {
        let channel = try await ClientBootstrap(group: group).connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        return HTTPConnection(channel: channel, host: host)
    }

    private init(channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>, host: String) {
        self.channel = channel
        self.host = host
    }

    /// Runs `body` with a function that sends one request and returns the status and response body;
    /// closes the connection afterwards.
    public func session<Result: Sendable>(_ body: (_ send: Send) async throws -> Result) async throws -> Result {
        let host = host
        return try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            return try await body { method, path, headers, content in
                var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
                head.headers.add(name: "Host", value: host)
                for (name, value) in headers { head.headers.add(name: name, value: value) }
                if let content { head.headers.add(name: "Content-Length", value: String(content.utf8.count)) }
                try await outbound.write(.head(head))
                if let content { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: content)))) }
                try await outbound.write(.end(nil))
                var status = 0
                var text = ""
                while let part = try await responses.next() {
                    switch part {
                    case .head(let response): status = Int(response.status.code)
                    case .body(let buffer): text += String(buffer: buffer)
                    case .end: return (status, text)
                    }
                }
                throw GatewayPosterError.connectionClosed
            }
        }
    }
}

/// Posts NDJSON batches of events to the ingest gateway's `POST /v1/events/batch` over one keep-alive
/// connection. Used by the replay of datasets through the gateway and by the load generators.
public final class GatewayPoster: Sendable {
    private let connection: HTTPConnection
    private let apiKey: String

    public static func connect(host: String, port: Int, apiKey: String, group: any EventLoopGroup) async throws -> GatewayPoster {
        GatewayPoster(connection: try await HTTPConnection.connect(host: host, port: port, group: group), apiKey: apiKey)
    }

    private init(connection: HTTPConnection, apiKey: String) {
        self.connection = connection
        self.apiKey = apiKey
    }

    /// Runs `body` with a function that posts one NDJSON body to `POST /v1/events/batch` (or, with
    /// `singleEvents`, one JSON event to `POST /v1/events`) and returns the HTTP status and response body;
    /// closes the connection afterwards.
    public func session<Result: Sendable>(
        singleEvents: Bool = false,
        _ body: (_ post: (String) async throws -> (status: Int, body: String)) async throws -> Result
    ) async throws -> Result {
        var headers = [("Content-Type", singleEvents ? "application/json" : "application/x-ndjson")]
        if !apiKey.isEmpty { headers.append(("X-API-Key", apiKey)) }
        let fixed = headers
        let path = singleEvents ? "/v1/events" : "/v1/events/batch"
        return try await connection.session { send in
            try await withoutActuallyEscaping(send) { send in
                try await body { text in try await send(.POST, path, fixed, text) }
            }
        }
    }

    /// One event as a line of NDJSON (canonical JSON of contract v1).
    public static func line(_ event: Event) -> String {
        String(decoding: event.canonicalJSON(), as: UTF8.self)
    }
}

public enum GatewayPosterError: Error, Sendable {
    case connectionClosed
}
