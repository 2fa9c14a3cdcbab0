import Events
import Features
import HTTPSupport
import Hummingbird
import Serving

/// `PUT|GET|DELETE /v1/users/{id}/preferences?domain=`: what a user states they like before they have
/// events (genres of movies, categories of polls, with weights). Recommendations for a user the model does
/// not know come from them at once (strategy `preferences`), and are blended out as the user's events
/// arrive (``RecommendationEngine/preferenceHalfLife``).
enum PreferenceRoutes {
    static let maximumBodyBytes = 16 * 1024
    static let maximumEntries = 30
    static let weights: ClosedRange<Double> = 0.01...10

    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.put("/v1/users/:user_id/preferences") { request, context in
            var request = request
            let user = try InferenceQuery.identifier(context.parameters.get("user_id"), field: "user_id")
            let domain = try InferenceQuery(request).domain()
            guard request.mediaType == nil || request.mediaType == "application/json" else {
                throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send application/json")
            }
            let stated = try parse(try await request.collectBody(limit: maximumBodyBytes), domain: domain, known: service.catalog.knownGroups(domain))
            do {
                try await service.features.preferenceWriter.set(user: user, domain: domain, weights: stated)
            } catch {
                throw APIError.featuresUnavailable(error)
            }
            return body(user: user, domain: domain, stated.map { ($0.group, $0.weight) })
        }
        router.get("/v1/users/:user_id/preferences") { request, context in
            let user = try InferenceQuery.identifier(context.parameters.get("user_id"), field: "user_id")
            let domain = try InferenceQuery(request).domain()
            let stated: [String: Double]
            do {
                stated = try await service.features.preferences(user: user, domain: domain)
            } catch {
                throw APIError.featuresUnavailable(error)
            }
            return body(user: user, domain: domain, stated.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) })
        }
        router.delete("/v1/users/:user_id/preferences") { request, context in
            let user = try InferenceQuery.identifier(context.parameters.get("user_id"), field: "user_id")
            let domain = try InferenceQuery(request).domain()
            do {
                try await service.features.preferenceWriter.set(user: user, domain: domain, weights: [])
            } catch {
                throw APIError.featuresUnavailable(error)
            }
            return Response(status: .noContent)
        }
    }

    /// The member naming the groups: `genres` for movies, `categories` for polls.
    static func member(_ domain: EventDomain) -> String { domain == .movie ? "genres" : "categories" }

    /// `{"genres": {"Comedy": 1, "Drama": 0.5}}` (movies) or `{"categories": {…}}` (polls): 1 to 30 groups
    /// the catalog knows, each weighing 0.01 to 10. Either member name is read as the domain's groups (the
    /// body's schema cannot depend on the query's domain; the fuzzer found a valid body refused), and both
    /// together are one list (of at most 30 each).
    static func parse(_ buffer: ByteBuffer, domain: EventDomain, known: Set<String>) throws -> [(group: String, weight: Double)] {
        let name = member(domain)
        let json: JSONValue
        do {
            json = try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw APIError(.badRequest, code: "invalid_json", message: "the body is not valid JSON: \(error)")
        }
        guard case .object(let members) = json else {
            throw APIError(.badRequest, code: "invalid_body", message: "send {\"\(name)\": {\"<name>\": weight, …}}")
        }
        var stated: [(group: String, weight: Double)]?
        for (key, value) in members {
            guard key == "genres" || key == "categories" else {
                throw APIError(.badRequest, code: "unknown_field", message: "unknown field \(key) (\(name) for \(domain.name))", field: key)
            }
            guard case .object(let entries) = value else {
                throw APIError(.badRequest, code: "invalid_type", message: "\(key) is an object of name → weight", field: key)
            }
            guard (1...maximumEntries).contains(entries.count) else {
                throw APIError(.badRequest, code: "invalid_count", message: "between 1 and \(maximumEntries) \(key)", field: key)
            }
            stated = (stated ?? []) + (try entries.map { group, weight in
                let field = "\(key).\(group)"
                guard case .number(let text) = weight, let number = Double(text), number.isFinite, weights.contains(number) else {
                    throw APIError(.badRequest, code: "invalid_weight", message: "a weight is a number from \(weights.lowerBound) to \(weights.upperBound)", field: field)
                }
                guard known.contains(group) else {
                    throw APIError(
                        .unprocessableContent, code: "unknown_group",
                        message: "the catalog has no \(domain == .movie ? "genre" : "category") \(group.prefix(64)); known: \(known.sorted().prefix(40).joined(separator: ", "))",
                        field: field
                    )
                }
                return (group, number)
            })
        }
        guard let stated else { throw APIError(.badRequest, code: "missing_field", message: "\(name) is required", field: name) }
        // A group named in both members counts once, with its later weight.
        var byGroup: [String: Double] = [:]
        var order: [String] = []
        for (group, weight) in stated {
            if byGroup.updateValue(weight, forKey: group) == nil { order.append(group) }
        }
        return order.map { ($0, byGroup[$0]!) }
    }

    static func body(user: String, domain: EventDomain, _ stated: [(String, Double)]) -> Response {
        JSONResponse.make(.ok, .object([
            ("user_id", .string(user)), ("domain", .string(domain.name)),
            ("preferences", .array(stated.map { .object([("group", .string($0.0)), ("weight", .number(String($0.1)))]) })),
        ]))
    }
}
