import Events
import HTTPTypes
import Hummingbird

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
