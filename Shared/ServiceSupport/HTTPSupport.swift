import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import Logging

/// The JSON error every StreamRec HTTP endpoint answers with:
/// `{"error":{"code":"invalid_format","message":"...","field":"user_id"}}`.
/// `code` is stable and machine-readable; `field` names the offending field or is `null`.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    /// Extra response headers, e.g. `Retry-After`.
    public var headers: HTTPFields
    /// Extra members of the error object, after code, message and field (e.g. `suggestions`).
    public var details: [(key: String, value: JSONValue)]

    public init(
        _ status: HTTPResponse.Status, code: String, message: String, field: String? = nil, headers: HTTPFields = [:],
        details: [(key: String, value: JSONValue)] = []
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.details = details
    }

    /// A 400 from an event validation error.
    public init(validation error: EventValidationError) {
        self.init(.badRequest, code: error.code.rawValue, message: error.message, field: error.field)
    }

    /// 503 with `Retry-After`: the caller should retry later, unchanged.
    public static func unavailable(code: String, message: String, retryAfter: Duration) -> APIError {
        var headers = HTTPFields()
        headers[.retryAfter] = String(max(1, retryAfter.components.seconds))
        return APIError(.serviceUnavailable, code: code, message: message, headers: headers)
    }

    /// The `{"code","message","field"}` object, for embedding in other responses (batch results).
    public var jsonObject: JSONValue {
        .object([("code", .string(code)), ("message", .string(message)), ("field", field.map { .string($0) } ?? .null)] + details)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONResponse.encode(.object([("error", jsonObject)])))))
    }
}

/// Small helpers to answer with JSON written by ``JSONWriter`` (no Codable on the hot path).
public enum JSONResponse {
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var writer = JSONWriter(capacity: 4096)
        writer.value(value)
        return writer.bytes
    }

    public static func make(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        make(status, encoded: encode(value), headers: headers)
    }

    /// A response whose JSON body is already encoded.
    public static func make(_ status: HTTPResponse.Status, encoded body: [UInt8], headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension HTTPField.Name {
    public static let requestID = HTTPField.Name("X-Request-ID")!
}

/// Gives every request an id (the client's `X-Request-ID` if it sent a sane one), echoes it in the
/// response, and turns every error into the JSON error body. Unexpected errors become a 500 whose body
/// carries the request id, and are logged with it; their details never reach the client.
public struct ErrorAndRequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let supplied = request.headers[.requestID].flatMap { $0.utf8.count <= 64 && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } ? $0 : nil }
        // EventID: a random UUID without Foundation's per-call read of a device file.
        let requestID = supplied ?? EventID.random()
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        } catch let error as HTTPError {
            response = try APIError(error.status, code: Self.code(for: error.status), message: error.body ?? error.status.reasonPhrase)
                .response(from: request, context: context)
        } catch let error as any HTTPResponseError where error.status.code < 500 {
            response = try APIError(error.status, code: Self.code(for: error.status), message: error.status.reasonPhrase)
                .response(from: request, context: context)
        } catch {
            context.logger.error("unexpected error", metadata: ["request_id": "\(requestID)", "error": "\(error)", "path": "\(request.uri.path)"])
            response = try APIError(.internalServerError, code: "internal", message: "internal error; request id \(requestID)")
                .response(from: request, context: context)
        }
        response.headers[.requestID] = requestID
        return response
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "payload_too_large"
        case .badRequest: "bad_request"
        case .unsupportedMediaType: "unsupported_media_type"
        default: "http_\(status.code)"
        }
    }
}

extension Request {
    /// Collects the body, answering 413 with the JSON error when it exceeds `limit` bytes.
    public mutating func collectBody(limit: Int) async throws -> ByteBuffer {
        do {
            return try await collectBody(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "the body is larger than \(limit) bytes")
        }
    }

    /// The media type of `Content-Type` without parameters, lower-cased (`application/json`).
    public var mediaType: String? {
        headers[.contentType].map { $0.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? "" }
    }
}

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

/// Runs a connection's handler, and every task it awaits, on the connection's own event loop.
///
/// Without it Hummingbird reads a request on the event loop, runs the route on the Swift cooperative
/// pool and writes the response back on the event loop: two thread hand-offs per request, each a
/// wake-up of a sleeping thread when the machine is not saturated (on the 2-core benchmark machine the
/// kernel's task switching was the largest single item of the API's profile). With a task executor
/// preference the handler stays on the thread that owns the socket, and with Redis I/O on the same loop
/// (`redis.io = event_loops`) a request never leaves it. Routes never make blocking calls themselves:
/// libpq (and hiredis, in the thread lanes) run on their clients' own threads, so an event loop is not
/// blocked; CPU work (fold-in, scoring: tens of microseconds) runs inline, as it would on the pool.
/// The cost: a connection's requests stay on the core whose loop accepted it.
struct EventLoopPinnedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// A Swift task executor that runs jobs on one NIO event loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        // From the loop itself this only appends to its task queue; from another thread (a client's
        // thread resuming a continuation) it also wakes the loop.
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
