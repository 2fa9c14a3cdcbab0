import HTTPTypes
import Hummingbird
import Logging

/// One log line per request (`http.access_log = true`; off by default: it is a line per request on the
/// hot paths): method, the route's path template (`/v1/users/{user_id}/recommendations`, never the raw
/// path, which holds ids), status, duration and request id, all as metadata. Added before
/// ``ErrorAndRequestIDMiddleware``, so it sees the final status of every answer and its request id.
public struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context: context, status: response.status.code, requestID: response.headers[.requestID], started: started)
            return response
        } catch {
            // Only what the error middleware did not turn into a response (it turns every error into one).
            log(request, context: context, status: (error as? any HTTPResponseError)?.status.code ?? 500, requestID: nil, started: started)
            throw error
        }
    }

    private func log(_ request: Request, context: Context, status: Int, requestID: String?, started: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - started).components
        let milliseconds = Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds) / 1e15
        logger.info("request", metadata: [
            "method": "\(request.method.rawValue)",
            "path": "\(context.endpointPath ?? "(no route)")",
            "status": "\(status)",
            "duration_ms": "\((milliseconds * 1000).rounded() / 1000)",
            "request_id": "\(requestID ?? "-")",
        ])
    }
}
