import Events
import Features
import HTTPSupport
import Hummingbird
import Serving

/// `GET /v1/polls/{id}/results`: a poll's live tally (Redis) with its question and options (the catalog).
enum PollRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/polls/:poll_id/results") { _, context in
            let poll = try InferenceQuery.identifier(context.parameters.get("poll_id"), field: "poll_id")
            let tally: PollTally
            do {
                tally = try await service.features.pollTally(poll)
            } catch {
                throw APIError.featuresUnavailable(error)
            }
            let metadata = service.catalog.poll(poll)
            guard metadata != nil || tally.totalVoters > 0 else {
                throw APIError(.notFound, code: "unknown_poll", message: "no poll \(poll)", field: "poll_id")
            }
            let options: [JSONValue] = (metadata?.options ?? tally.options.keys.sorted().map { PollOption(id: $0, text: $0) }).map { option in
                .object([("id", .string(option.id)), ("text", .string(option.text)), ("votes", .number(String(tally.options[option.id] ?? 0)))])
            }
            return JSONResponse.make(.ok, .object([
                ("poll_id", .string(poll)), ("question", metadata.map { .string($0.question) } ?? .null),
                ("category", metadata.map { .string($0.category) } ?? .null),
                ("total_voters", .number(String(tally.totalVoters))), ("options", .array(options)),
            ]))
        }
    }
}
