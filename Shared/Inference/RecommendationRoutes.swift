import Events
import Features
import HTTPSupport
import Hummingbird
import Serving

/// `GET /v1/users/{id}/recommendations`: a user's top-k (strategy per request, `RecommendationEngine`),
/// with reasons on request.
enum RecommendationRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/users/:user_id/recommendations") { request, context in
            let user = try InferenceQuery.identifier(context.parameters.get("user_id"), field: "user_id")
            let query = InferenceQuery(request)
            let domain = try query.domain()
            let k = try query.k()
            let excludeSeen = try query.bool("exclude_seen", default: true)
            let group = query.group(domain)
            let exclude = try query.excludedItems()
            let reasons = try query.bool("reasons", default: false)
            let window = try query.window(of: service.features.configuration)
            let result: RecommendationResult
            do {
                result = try await service.engine.recommend(
                    RecommendationRequest(user: user, domain: domain, k: k, excludeSeen: excludeSeen, group: group, exclude: exclude, reasons: reasons, window: window),
                    now: service.clock()
                )
            } catch {
                throw APIError.featuresUnavailable(error)
            }
            // The hottest route: written straight to bytes (no JSON tree), items' metadata pre-encoded.
            var writer = JSONWriter(capacity: 192 + 160 * result.items.count)
            writer.append(UInt8(ascii: "{"))
            writer.key("user_id", first: true)
            writer.string(user)
            writer.key("domain")
            writer.string(domain.name)
            writer.key("strategy")
            writer.string(result.strategy.rawValue)
            writer.key("model_version")
            if let version = result.modelVersion { writer.string(version) } else { writer.raw("null") }
            writer.key("degraded")
            writer.raw(result.degraded ? "true" : "false")
            writer.key("items")
            ItemJSON.writeItems(&writer, domain, result.items[...], catalog: service.catalog, because: result.because)
            writer.append(UInt8(ascii: "}"))
            return JSONResponse.make(.ok, encoded: writer.bytes)
        }
    }
}
