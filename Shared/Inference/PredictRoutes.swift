import Events
import Features
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import Serving

/// `POST /v1/predict` (ratings in, predicted ratings out, the classic contract and its legacy body) and
/// `GET /v1/similar?title=` — the routes that take what people type: titles, resolved server-side.
enum PredictRoutes {
    /// Titles with typos one request may ask to resolve: each costs an edit-distance scan of the catalog,
    /// so a body of 500 misspellings would keep a thread busy for anyone who sends it.
    static let maximumFuzzyTitles = 20
    /// Training popularity an item needs to be predicted (`min_support`); see `ServingModel.predictedRatings`.
    static let defaultMinimumSupport: Float = 10

    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.post("/v1/predict") { request, _ in
            var request = request
            guard request.mediaType == nil || request.mediaType == "application/json" else {
                throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send application/json")
            }
            // Before the body is read: a caller over the route's rate costs nothing more.
            if let wait = service.predictLimiter.take(1, for: "predict") {
                throw APIError(
                    .tooManyRequests, code: "rate_limited", message: "POST /v1/predict is over its rate limit; retry later",
                    headers: [.retryAfter: String(max(1, Int(wait.inSeconds.rounded(.up))))]
                )
            }
            let query = InferenceQuery(request)
            // The query's k is validated even when the body's k overrides it.
            let queryK = try query.k()
            let body = try PredictBody.parse(try await request.collectBody(limit: PredictBody.maximumBytes))
            let k = body.k ?? queryK
            let minimumSupport = try query.minimumSupport(default: defaultMinimumSupport)
            guard let model = service.models.model(for: .movie), model.predictsRatings else {
                throw APIError.unavailable(code: "no_model", message: "no movies rating model is served yet", retryAfter: .seconds(30))
            }
            var resolved: [(rated: PredictBody.RatedMovie, id: String, typos: Int)] = []
            var seen: [String: String] = [:]
            var fuzzy = 0
            for rated in body.ratings {
                if case .title(let title) = rated.reference, !service.catalog.titles.matchesExactly(title) {
                    fuzzy += 1
                    guard fuzzy <= maximumFuzzyTitles else {
                        throw APIError(
                            .unprocessableContent, code: "too_many_fuzzy_titles",
                            message: "at most \(maximumFuzzyTitles) titles per request may need typo matching; name the others exactly or by item_id", field: rated.field
                        )
                    }
                }
                let (id, typos) = try resolve(rated.reference, field: rated.field, service: service, model: model)
                if let earlier = seen[id] {
                    throw APIError(.badRequest, code: "duplicate_movie", message: "\(earlier) and \(rated.field) name the same movie (\(id))", field: rated.field)
                }
                seen[id] = rated.field
                resolved.append((rated, id, typos))
            }
            let known = resolved.compactMap { entry in model.itemIndex[entry.id].map { (item: Int($0), rating: entry.rated.rating) } }
            let predictions: [(item: String, rating: Float)]
            if let items = body.items {
                // "How would I rate these?": every item asked for, in order, whatever its support.
                let ratings = model.predictedRatings(known, for: items.map { model.itemIndex[$0].map(Int.init) ?? -1 }) ?? []
                predictions = Array(zip(items, ratings))
            } else {
                predictions = model.predictedRatings(known, k: k, minimumSupport: minimumSupport) ?? []
            }
            if body.legacy {
                return JSONResponse.make(.ok, .array([
                    .array(predictions.map { .string(ItemJSON.displayTitle($0.item, catalog: service.catalog)) }),
                    .array(predictions.map { .number(rounded($0.rating)) }),
                ]))
            }
            return JSONResponse.make(.ok, .object([
                ("model_version", .string(model.manifest.version)),
                ("resolved", .array(resolved.map { entry in
                    var members: [(key: String, value: JSONValue)] = [
                        ("field", .string(entry.rated.field)), ("item_id", .string(entry.id)), ("typos", .number(String(entry.typos))),
                        ("in_model", .bool(model.itemIndex[entry.id] != nil)),
                    ]
                    if case .title(let text) = entry.rated.reference { members.insert(("input", .string(text)), at: 0) }
                    if let movie = service.catalog.movie(entry.id) { members.append(("title", .string(movie.title))) }
                    return .object(members)
                })),
                ("items", .array(predictions.map { prediction in
                    guard case .object(var members) = ItemJSON.item(.movie, ScoredItem(item: prediction.item, score: Double(prediction.rating)), catalog: service.catalog)
                    else { return .null }
                    members.removeAll { $0.key == "score" }
                    members.insert(("predicted_rating", .number(rounded(prediction.rating))), at: 1)
                    if body.items != nil { members.append(("in_model", .bool(model.itemIndex[prediction.item] != nil))) }
                    return .object(members)
                })),
            ]))
        }
        router.get("/v1/similar") { request, _ in
            let query = InferenceQuery(request)
            let title = try query.title()
            let k = try query.k()
            guard let model = service.models.model(for: .movie) else {
                throw APIError.unavailable(code: "no_model", message: "no movies model is served yet", retryAfter: .seconds(30))
            }
            let (id, typos) = try resolve(.title(title), field: "title", service: service, model: model, unknownStatus: .notFound)
            guard let similar = model.similar(to: id, k: k) else {
                throw APIError(.notFound, code: "unknown_item", message: "the model does not know \(ItemJSON.displayTitle(id, catalog: service.catalog)) yet", field: "title")
            }
            return JSONResponse.make(.ok, .object([
                ("matched", ItemJSON.item(.movie, ScoredItem(item: id, score: 1), catalog: service.catalog)), ("typos", .number(String(typos))),
                ("model_version", .string(model.manifest.version)),
                ("items", .array(similar.map { ItemJSON.item(.movie, ScoredItem(item: $0.item, score: Double($0.score)), catalog: service.catalog) })),
            ]))
        }
    }

    // MARK: - Resolution

    /// The catalog id a reference names, and how many typos its title had. An unknown id or title is an
    /// error naming it, with the nearest titles; a title shared by several movies (remakes) without a
    /// year resolves to the one most interacted with in training.
    static func resolve(
        _ reference: PredictBody.MovieReference, field: String, service: InferenceService, model: ServingModel, unknownStatus: HTTPResponse.Status = .unprocessableContent
    ) throws -> (String, Int) {
        switch reference {
        case .id(let id):
            guard service.catalog.movie(id) != nil || model.itemIndex[id] != nil else {
                throw APIError(unknownStatus, code: "unknown_item", message: "no movie with id \(id)", field: field)
            }
            return (id, 0)
        case .title(let title):
            switch service.catalog.titles.resolve(title) {
            case .matched(let entries, let typos):
                let popularity = { (entry: TitleIndex.Entry) -> Float in model.itemIndex[entry.id].map { model.bundle.popularity[Int($0)] } ?? -1 }
                let best = entries.max { popularity($0) < popularity($1) }!
                return (best.id, typos)
            case .unknown(let suggestions):
                throw APIError(
                    unknownStatus, code: "unknown_title",
                    message: "no movie titled \"\(title)\"" + (suggestions.isEmpty ? "" : "; did you mean \(suggestions.map { "\"\(ItemJSON.display($0.title, $0.year))\"" }.joined(separator: ", "))?"),
                    field: field,
                    details: [("suggestions", .array(suggestions.map { .object([("item_id", .string($0.id)), ("title", .string(ItemJSON.display($0.title, $0.year)))]) }))]
                )
            }
        }
    }

    /// Three decimals: enough for a rating, short in the body.
    static func rounded(_ value: Float) -> String { String(format: "%.3f", Double(value)) }
}
