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
    static let maximumBodyBytes = 256 * 1024
    static let maximumRatings = 500
    /// Titles with typos one request may ask to resolve: each costs an edit-distance scan of the catalog,
    /// so a body of 500 misspellings would keep a thread busy for anyone who sends it.
    static let maximumFuzzyTitles = 20
    /// Training popularity an item needs to be predicted (`min_support`); see `ServingModel.predictedRatings`.
    static let defaultMinimumSupport: Float = 10

    /// A movie as the client named it.
    enum MovieReference: Hashable {
        case id(String)
        case title(String)
    }

    struct RatedMovie {
        var reference: MovieReference
        var rating: Float
        /// Where it came from in the body, for errors: `ratings[2].title`, or `0[2]` in the legacy body.
        var field: String
    }

    struct ParsedBody {
        var ratings: [RatedMovie]
        var k: Int?
        var legacy: Bool
        /// Item ids to predict exactly (in this order), instead of the best-predicted unrated movies.
        var items: [String]? = nil
    }

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
            // The query's k is validated even when the body's k overrides it.
            let queryK = try InferenceRoutes.kParameter(request.uri.queryParameters)
            let body = try parse(try await request.collectBody(limit: maximumBodyBytes))
            let k = body.k ?? queryK
            let minimumSupport = try minimumSupportParameter(request)
            guard let model = service.models.model(for: "movies"), model.predictsRatings else {
                throw APIError.unavailable(code: "no_model", message: "no movies rating model is served yet", retryAfter: .seconds(30))
            }
            var resolved: [(rated: RatedMovie, id: String, typos: Int)] = []
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
                    .array(predictions.map { .string(displayTitle($0.item, catalog: service.catalog)) }),
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
                    guard case .object(var members) = InferenceRoutes.item(.movie, ScoredItem(item: prediction.item, score: Double(prediction.rating)), catalog: service.catalog)
                    else { return .null }
                    members.removeAll { $0.key == "score" }
                    members.insert(("predicted_rating", .number(rounded(prediction.rating))), at: 1)
                    if body.items != nil { members.append(("in_model", .bool(model.itemIndex[prediction.item] != nil))) }
                    return .object(members)
                })),
            ]))
        }
        router.get("/v1/similar") { request, _ in
            guard let title = request.uri.queryParameters.get("title").flatMap({ $0.removingPercentEncoding ?? String($0) }), !title.isEmpty, title.unicodeScalars.count <= 300 else {
                throw APIError(.badRequest, code: "invalid_parameter", message: "title is required (1–300 bytes)", field: "title")
            }
            let k = try InferenceRoutes.kParameter(request.uri.queryParameters)
            guard let model = service.models.model(for: "movies") else {
                throw APIError.unavailable(code: "no_model", message: "no movies model is served yet", retryAfter: .seconds(30))
            }
            let (id, typos) = try resolve(.title(title), field: "title", service: service, model: model, unknownStatus: .notFound)
            guard let similar = model.similar(to: id, k: k) else {
                throw APIError(.notFound, code: "unknown_item", message: "the model does not know \(displayTitle(id, catalog: service.catalog)) yet", field: "title")
            }
            return JSONResponse.make(.ok, .object([
                ("matched", InferenceRoutes.item(.movie, ScoredItem(item: id, score: 1), catalog: service.catalog)), ("typos", .number(String(typos))),
                ("model_version", .string(model.manifest.version)),
                ("items", .array(similar.map { InferenceRoutes.item(.movie, ScoredItem(item: $0.item, score: Double($0.score)), catalog: service.catalog) })),
            ]))
        }
    }

    // MARK: - Body

    /// `{"ratings": [{"item_id" | "title", "rating"}…], "k"?}` or the legacy `[[titles…], [ratings…]]`.
    static func parse(_ buffer: ByteBuffer) throws -> ParsedBody {
        let json: JSONValue
        do {
            json = try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw APIError(.badRequest, code: "invalid_json", message: "the body is not valid JSON: \(error)")
        }
        switch json {
        case .array(let parts):
            guard parts.count == 2, case .array(let titles) = parts[0], case .array(let ratings) = parts[1] else {
                throw APIError(.badRequest, code: "invalid_body", message: "the legacy body is [[titles…], [ratings…]]")
            }
            guard titles.count == ratings.count else {
                throw APIError(.badRequest, code: "length_mismatch", message: "\(titles.count) titles but \(ratings.count) ratings", field: "1")
            }
            try checkCount(titles.count, field: "0")
            return ParsedBody(
                ratings: try zip(titles, ratings).enumerated().map { index, pair in
                    guard case .string(let title) = pair.0, !title.isEmpty else {
                        throw APIError(.badRequest, code: "invalid_title", message: "titles are non-empty strings", field: "0[\(index)]")
                    }
                    return RatedMovie(reference: .title(title), rating: try rating(pair.1, field: "1[\(index)]"), field: "0[\(index)]")
                },
                k: nil, legacy: true
            )
        case .object(let members):
            var ratings: [RatedMovie]?
            var k: Int?
            var items: [String]?
            for (key, value) in members {
                switch key {
                case "items":
                    guard case .array(let entries) = value else { throw APIError(.badRequest, code: "invalid_type", message: "items is an array of item ids", field: "items") }
                    guard (1...maximumRatings).contains(entries.count) else {
                        throw APIError(.badRequest, code: "invalid_count", message: "between 1 and \(maximumRatings) items", field: "items")
                    }
                    items = try entries.enumerated().map { index, entry in
                        guard case .string(let id) = entry else {
                            throw APIError(.badRequest, code: "invalid_type", message: "an item is an item id (a string)", field: "items[\(index)]")
                        }
                        return try InferenceRoutes.identifier(id, field: "items[\(index)]")
                    }
                case "ratings":
                    guard case .array(let entries) = value else { throw APIError(.badRequest, code: "invalid_type", message: "ratings is an array", field: "ratings") }
                    try checkCount(entries.count, field: "ratings")
                    ratings = try entries.enumerated().map { try ratedMovie($1, field: "ratings[\($0)]") }
                case "k":
                    guard case .number(let text) = value, let number = Int(text), (1...100).contains(number) else {
                        throw APIError(.badRequest, code: "invalid_parameter", message: "k is an integer from 1 to 100", field: "k")
                    }
                    k = number
                default:
                    throw APIError(.badRequest, code: "unknown_field", message: "unknown field \(key) (ratings, items, k)", field: key)
                }
            }
            guard let ratings else { throw APIError(.badRequest, code: "missing_field", message: "ratings is required", field: "ratings") }
            return ParsedBody(ratings: ratings, k: k, legacy: false, items: items)
        default:
            throw APIError(.badRequest, code: "invalid_body", message: "send {\"ratings\": [...]} or [[titles…], [ratings…]]")
        }
    }

    static func checkCount(_ count: Int, field: String) throws {
        guard (1...maximumRatings).contains(count) else {
            throw APIError(.badRequest, code: "invalid_count", message: "between 1 and \(maximumRatings) rated movies", field: field)
        }
    }

    static func ratedMovie(_ value: JSONValue, field: String) throws -> RatedMovie {
        guard case .object(let members) = value else { throw APIError(.badRequest, code: "invalid_type", message: "each rating is an object", field: field) }
        var reference: MovieReference?
        var value: Float?
        for (key, member) in members {
            switch (key, member) {
            case ("item_id", _) where reference != nil, ("title", _) where reference != nil:
                throw APIError(.badRequest, code: "ambiguous_movie", message: "name a movie by item_id or by title, not both", field: "\(field).\(key)")
            case ("item_id", .string(let id)):
                reference = .id(try InferenceRoutes.identifier(id, field: "\(field).item_id"))
            case ("title", .string(let title)) where !title.isEmpty && title.unicodeScalars.count <= 300:
                reference = .title(title)
            case ("rating", _):
                value = try rating(member, field: "\(field).rating")
            case ("item_id", _), ("title", _):
                throw APIError(.badRequest, code: "invalid_type", message: "\(key) is a non-empty string", field: "\(field).\(key)")
            default:
                throw APIError(.badRequest, code: "unknown_field", message: "unknown field \(key) (item_id or title, rating)", field: "\(field).\(key)")
            }
        }
        guard let reference else { throw APIError(.badRequest, code: "missing_field", message: "item_id or title is required", field: "\(field).title") }
        guard let value else { throw APIError(.badRequest, code: "missing_field", message: "rating is required", field: "\(field).rating") }
        let name: String = if case .id = reference { "item_id" } else { "title" }
        return RatedMovie(reference: reference, rating: value, field: "\(field).\(name)")
    }

    static func rating(_ value: JSONValue, field: String) throws -> Float {
        // Checked as a Double, the width the contract's numbers have: a Float would round 0.4999999999 up to 0.5.
        guard case .number(let text) = value, let number = Double(text), number.isFinite, (0.5...5).contains(number) else {
            throw APIError(.badRequest, code: "invalid_rating", message: "a rating is a number from 0.5 to 5", field: field)
        }
        return Float(number)
    }

    static func minimumSupportParameter(_ request: Request) throws -> Float {
        guard let text = request.uri.queryParameters.get("min_support") else { return defaultMinimumSupport }
        // As a Double: a Float turns -5e-324 into -0.0, which would pass "≥ 0".
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "min_support is a number ≥ 0", field: "min_support")
        }
        return Float(value)
    }

    // MARK: - Resolution

    /// The catalog id a reference names, and how many typos its title had. An unknown id or title is an
    /// error naming it, with the nearest titles; a title shared by several movies (remakes) without a
    /// year resolves to the one most interacted with in training.
    static func resolve(
        _ reference: MovieReference, field: String, service: InferenceService, model: ServingModel, unknownStatus: HTTPResponse.Status = .unprocessableContent
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
                    message: "no movie titled \"\(title)\"" + (suggestions.isEmpty ? "" : "; did you mean \(suggestions.map { "\"\(display($0.title, $0.year))\"" }.joined(separator: ", "))?"),
                    field: field,
                    details: [("suggestions", .array(suggestions.map { .object([("item_id", .string($0.id)), ("title", .string(display($0.title, $0.year)))]) }))]
                )
            }
        }
    }

    static func display(_ title: String, _ year: Int?) -> String { year.map { "\(title) (\($0))" } ?? title }

    static func displayTitle(_ id: String, catalog: CatalogMetadata) -> String {
        catalog.movie(id).map { display($0.title, $0.year) } ?? id
    }

    /// Three decimals: enough for a rating, short in the body.
    static func rounded(_ value: Float) -> String { String(format: "%.3f", Double(value)) }
}
