import HTTPTypes
import Hummingbird

/// Cross-origin access for listed origins only (the web page served by the inference API posts events to
/// the gateway from another port): preflight `OPTIONS` answered with 204 and the allowed methods and
/// headers; other answers to a listed origin carry `Access-Control-Allow-Origin`. A request from an
/// origin not listed gets no CORS header (the browser refuses it); without origins the middleware does
/// nothing.
public struct AllowedOriginsCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    let allowHeaders: String
    let allowMethods: String

    public init(origins: [String], allowHeaders: [String] = ["Content-Type", "X-API-Key", "Authorization", "X-Request-ID"], allowMethods: [String] = ["GET", "POST", "OPTIONS"]) {
        self.origins = Set(origins)
        self.allowHeaders = allowHeaders.joined(separator: ", ")
        self.allowMethods = allowMethods.joined(separator: ", ")
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) else { return try await next(request, context) }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            return Response(status: .noContent, headers: [
                .accessControlAllowOrigin: origin, .accessControlAllowMethods: allowMethods, .accessControlAllowHeaders: allowHeaders,
                .accessControlMaxAge: "600", .vary: "Origin",
            ])
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        return response
    }
}
