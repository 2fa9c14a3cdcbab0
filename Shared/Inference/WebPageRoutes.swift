import Events
import HTTPSupport
import Hummingbird

/// `GET /v1/ui/config`: what the web page (its static files are served by the application's file
/// middleware) needs to post events, and the groups it offers.
enum WebPageRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/ui/config") { _, _ in
            JSONResponse.make(.ok, .object([
                ("gateway_url", .string(service.ui.gatewayURL)), ("gateway_api_key", service.ui.gatewayAPIKey.map { .string($0) } ?? .null),
                ("groups", .object(EventDomain.allCases.map { domain in
                    (domain.name, .array(service.catalog.knownGroups(domain).sorted().map { .string($0) }))
                })),
            ]))
        }
    }
}
