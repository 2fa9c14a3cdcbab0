import HTTPTypes
import Hummingbird
import Tracing

extension HTTPField.Name {
    /// W3C Trace Context Level 2's response header: the trace and the server span that answered.
    public static let traceresponse = HTTPField.Name("traceresponse")!
}

/// Answers the request span's context as `traceresponse` (`00-<trace id>-<server span id>-<flags>`), so a
/// caller that sent no `traceparent` can find the trace the service started for it. Added right after
/// Hummingbird's `TracingMiddleware`, only while tracing is on (`tracing.enabled`).
public struct TraceResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if let current = ServiceContext.current {
            InstrumentationSystem.instrument.inject(current, into: &response.headers, using: TraceResponseInjector())
        }
        return response
    }
}

/// Writes the instrument's `traceparent` as `traceresponse`; ignores the other keys (`tracestate`
/// stays with the caller).
struct TraceResponseInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPFields) {
        if key == "traceparent" { carrier[.traceresponse] = value }
    }
}
