import Events
import Features
import HTTPSupport
import Hummingbird
import Serving

/// `GET /v1/users/{id}/recommendations`: a user's top-k (strategy per request, `RecommendationEngine`),
/// with reasons on request. Every answer carries a `recommendation_id` (a random UUID), and its
/// `recommendation.served` record is queued for the `ImpressionEmitter` (never awaited).
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
            let now = service.clock()
            // The user's variant of the domain's running experiment, and the model it serves.
            let assignment = service.experiments?.assignment(user: user, domain: domain, now: now)
            do {
                result = try await service.engine.recommend(
                    RecommendationRequest(user: user, domain: domain, k: k, excludeSeen: excludeSeen, group: group, exclude: exclude, reasons: reasons, window: window),
                    now: now, using: assignment?.model ?? .production
                )
            } catch {
                throw APIError.featuresUnavailable(error)
            }
            let recommendationID = EventID.random()
            if let impressions = service.impressions {
                impressions.offer(RecommendationServed(
                    recommendationID: recommendationID, userID: user, domain: domain, strategy: result.strategy.rawValue, modelVersion: result.modelVersion,
                    experimentID: assignment?.experiment.id, variant: assignment?.variant.rawValue, items: result.items.enumerated().map { RecommendationServed.ServedItem(itemID: $0.element.item, position: $0.offset + 1) },
                    servedAt: EventTimestamp(millisecondsSinceEpoch: now)
                ))
            }
            // The hottest route: written straight to bytes (no JSON tree), items' metadata pre-encoded.
            var writer = JSONWriter(capacity: 240 + 160 * result.items.count)
            writer.append(UInt8(ascii: "{"))
            writer.key("recommendation_id", first: true)
            writer.string(recommendationID)
            writer.key("user_id")
            writer.string(user)
            writer.key("domain")
            writer.string(domain.name)
            writer.key("strategy")
            writer.string(result.strategy.rawValue)
            writer.key("model_version")
            if let version = result.modelVersion { writer.string(version) } else { writer.raw("null") }
            writer.key("experiment_id")
            if let assignment { writer.string(assignment.experiment.id) } else { writer.raw("null") }
            writer.key("variant")
            if let assignment { writer.string(assignment.variant.rawValue) } else { writer.raw("null") }
            writer.key("degraded")
            writer.raw(result.degraded ? "true" : "false")
            writer.key("items")
            ItemJSON.writeItems(&writer, domain, result.items[...], catalog: service.catalog, because: result.because)
            writer.append(UInt8(ascii: "}"))
            return JSONResponse.make(.ok, encoded: writer.bytes)
        }
    }
}
