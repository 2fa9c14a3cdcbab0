import Events
import Features
import HTTPSupport
import Hummingbird
import Serving

/// `GET /v1/items/{id}/similar`: the items the served top-N model finds most like one (the item's row of
/// EASE's item–item weights, or the cosine of ALS item factors).
enum ItemRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/items/:item_id/similar") { request, context in
            let itemID = try InferenceQuery.identifier(context.parameters.get("item_id"), field: "item_id")
            let query = InferenceQuery(request)
            let domain = try query.domain()
            let k = try query.k()
            guard let model = service.models.model(for: domain) else {
                throw APIError.unavailable(code: "no_model", message: "no \(domain.name) model is served yet", retryAfter: .seconds(30))
            }
            guard let similar = model.similar(to: itemID, k: k) else {
                throw APIError(.notFound, code: "unknown_item", message: "the model does not know \(itemID)", field: "item_id")
            }
            return JSONResponse.make(.ok, .object([
                ("item_id", .string(itemID)), ("domain", .string(domain.name)), ("model_version", .string(model.manifest.version)),
                ("items", .array(similar.map { ItemJSON.item(domain, ScoredItem(item: $0.item, score: Double($0.score)), catalog: service.catalog) })),
            ]))
        }
    }
}
