import Events
import NIOCore
import NIOHTTP1
import NIOPosix

/// Posts NDJSON batches of events to the ingest gateway's `POST /v1/events/batch` over one keep-alive
/// HTTP/1.1 connection, one request at a time. Used by the replay of datasets through the gateway and by
/// the load benchmarks.
public final class GatewayPoster: Sendable {
    private let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    private let host: String
    private let apiKey: String

    public static func connect(host: String, port: Int, apiKey: String, group: any EventLoopGroup) async throws -> GatewayPoster {
        let channel = try await ClientBootstrap(group: group).connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        return GatewayPoster(channel: channel, host: host, apiKey: apiKey)
    }

    private init(channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>, host: String, apiKey: String) {
        self.channel = channel
        self.host = host
        self.apiKey = apiKey
    }

    /// Runs `body` with a function that posts one NDJSON body and returns the HTTP status and response
    /// body; closes the connection afterwards.
    public func session<Result: Sendable>(
        _ body: (_ post: (String) async throws -> (status: Int, body: String)) async throws -> Result
    ) async throws -> Result {
        let host = host
        let apiKey = apiKey
        return try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            return try await body { ndjson in
                var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/events/batch")
                head.headers.add(name: "Host", value: host)
                head.headers.add(name: "Content-Type", value: "application/x-ndjson")
                head.headers.add(name: "Content-Length", value: String(ndjson.utf8.count))
                if !apiKey.isEmpty { head.headers.add(name: "X-API-Key", value: apiKey) }
                try await outbound.write(.head(head))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: ndjson))))
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

    /// One event as a line of NDJSON (canonical JSON of contract v1).
    public static func line(_ event: Event) -> String {
        String(decoding: event.canonicalJSON(), as: UTF8.self)
    }
}

public enum GatewayPosterError: Error, Sendable {
    case connectionClosed
}
