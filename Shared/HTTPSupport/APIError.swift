import Events
import HTTPTypes
import Hummingbird
import NIOCore

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
