import Events
import Features
import HTTPSupport
import Hummingbird
import Serving

/// `GET /v1/users/{id}/profile`: what the processor keeps of a user (affinities, history, last active).
enum ProfileRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/users/:user_id/profile") { request, context in
            let user = try InferenceQuery.identifier(context.parameters.get("user_id"), field: "user_id")
            let query = InferenceQuery(request)
            let domain = try query.domain()
            let historyLimit = try query.int("history", in: 0...200, default: 20)
            let affinity: [String: Double]
            let history: [HistoryEntry]
            let lastActive: EventTimestamp?
            do {
                affinity = try await service.features.affinity(user: user, domain: domain)
                history = historyLimit > 0 ? try await service.features.history(user: user, domain: domain, limit: historyLimit) : []
                lastActive = try await service.features.lastActive(user: user)
            } catch {
                throw APIError.featuresUnavailable(error)
            }
            // What the processor keeps of a user (nothing for a user never seen: empty, not 404, since the
            // features have no notion of a user's existence beyond their events).
            let affinities: [JSONValue] = affinity.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map {
                .object([("group", .string($0.key)), ("weight", .number(String($0.value)))])
            }
            let entries: [JSONValue] = history.map { entry in
                var members: [(key: String, value: JSONValue)] = [
                    ("item_id", .string(entry.item)), ("type", .string(entry.type.rawValue)), ("weight", .number(String(entry.weight))),
                    ("occurred_at", .string(entry.occurredAt.description)),
                ]
                if let title = domain == .movie ? service.catalog.movie(entry.item)?.title : service.catalog.poll(entry.item)?.question {
                    members.append(("title", .string(title)))
                }
                return .object(members)
            }
            return JSONResponse.make(.ok, .object([
                ("user_id", .string(user)), ("domain", .string(domain.name)),
                ("last_active", lastActive.map { .string($0.description) } ?? .null),
                ("affinities", .array(affinities)), ("history", .array(entries)),
            ]))
        }
    }
}
