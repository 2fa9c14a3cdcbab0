import Events
import Experiments
import Foundation
import HTTPSupport
import Hummingbird
import ModelRegistry

/// `GET /v1/experiments` (every experiment, newest first, with the figures the processor keeps) and the
/// admin routes that start and stop one (`POST /v1/admin/experiments`, `POST /v1/admin/experiments/{id}/stop`;
/// the admin bearer token, as `POST /v1/admin/reload`).
enum ExperimentRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/experiments") { _, _ in
            let experiments = try await listed(service)
            var described: [JSONValue] = []
            for experiment in experiments { described.append(await describe(experiment, service: service)) }
            return JSONResponse.make(.ok, .object([("experiments", .array(described))]))
        }
        router.post("/v1/admin/experiments") { request, _ in
            var request = request
            try ModelRoutes.authorizeAdmin(request, token: service.adminToken)
            let assignments = try available(service)
            let body = try await request.collectBody(limit: 4096)
            let (id, domain, control, challenger, share) = try parseStart(Array(body.readableBytesView))
            let experiment: Experiment
            do {
                experiment = try await assignments.store.start(id: id, domain: domain, control: control, challenger: challenger, challengerShare: share)
            } catch let error as ExperimentStore.StoreError {
                let field: String? = switch error {
                case .unknownModel(let version, _): control == .model(version: version) ? "control" : "challenger"
                default: error.isConflict ? "id" : nil
                }
                // The body is well formed but cannot be run (the same arm twice, an unknown model version): 422.
                throw APIError(error.isConflict ? .conflict : .unprocessableContent, code: error.code, message: error.description, field: field)
            }
            await assignments.refreshOnce()
            return JSONResponse.make(.created, await describe(experiment, service: service))
        }
        router.post("/v1/admin/experiments/:experiment_id/stop") { request, context in
            try ModelRoutes.authorizeAdmin(request, token: service.adminToken)
            let assignments = try available(service)
            let id = try InferenceQuery.identifier(context.parameters.get("experiment_id"), field: "experiment_id")
            let experiment: Experiment
            do {
                experiment = try await assignments.store.stop(id)
            } catch let error as ExperimentStore.StoreError {
                throw APIError(error.isConflict ? .conflict : .notFound, code: error.code, message: error.description, field: "experiment_id")
            }
            await assignments.refreshOnce()
            return JSONResponse.make(.ok, await describe(experiment, service: service))
        }
    }

    static func available(_ service: InferenceService) throws -> ExperimentAssignments {
        guard let assignments = service.experiments else {
            throw APIError.unavailable(code: "experiments_unavailable", message: "this instance serves no experiments", retryAfter: .seconds(60))
        }
        return assignments
    }

    static func listed(_ service: InferenceService) async throws -> [Experiment] {
        let assignments = try available(service)
        do {
            return try await assignments.store.all()
        } catch {
            throw APIError.unavailable(code: "postgres_unavailable", message: "experiments are read from PostgreSQL: \(error)", retryAfter: .seconds(5))
        }
    }

    /// `{"id", "domain", "control", "challenger", "challenger_share"}`.
    static func parseStart(_ bytes: [UInt8]) throws -> (String, EventDomain, ExperimentArm, ExperimentArm, Double) {
        guard case .object(let members)? = try? JSONParser.parse(bytes) else {
            throw APIError(.badRequest, code: "invalid_json", message: #"send {"id", "domain", "control", "challenger", "challenger_share"}"#)
        }
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        for key in fields.keys where !["id", "domain", "control", "challenger", "challenger_share"].contains(key) {
            throw APIError(.badRequest, code: "unknown_field", message: "unknown field \(key)", field: key)
        }
        func string(_ name: String) throws -> String {
            guard case .string(let text)? = fields[name] else { throw APIError(.badRequest, code: "missing_field", message: "\(name) (a string) is required", field: name) }
            return text
        }
        func arm(_ name: String) throws -> ExperimentArm {
            guard let arm = ExperimentArm(try string(name)) else {
                throw APIError(.badRequest, code: "invalid_arm", message: "\(name) is production, popular or model:<registered version>", field: name)
            }
            return arm
        }
        guard let domain = EventDomain(name: try string("domain")) else { throw APIError(.badRequest, code: "invalid_domain", message: "movies or polls", field: "domain") }
        guard case .number(let shareText)? = fields["challenger_share"], let share = Double(shareText) else {
            throw APIError(.badRequest, code: "missing_field", message: "challenger_share (a number between 0 and 1) is required", field: "challenger_share")
        }
        return (try string("id"), domain, try arm("control"), try arm("challenger"), share)
    }

    static func describe(_ experiment: Experiment, service: InferenceService) async -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("id", .string(experiment.id)), ("domain", .string(experiment.domain.name)),
            ("control", .string(experiment.control.description)), ("challenger", .string(experiment.challenger.description)),
            ("challenger_share", .number(String(experiment.challengerShare))),
            ("started_at", .string(experiment.startedAt.description)),
            ("stopped_at", experiment.stoppedAt.map { .string($0.description) } ?? .null),
            ("running", .bool(experiment.stoppedAt == nil)),
        ]
        if let outcomes = service.outcomes {
            members.append(("outcomes", await outcomes(experiment)))
        }
        return .object(members)
    }
}

extension ExperimentStore.StoreError {
    var isConflict: Bool {
        switch self {
        case .alreadyRunning, .duplicateID, .notRunning: true
        case .invalid, .unknown, .unknownModel: false
        }
    }

    var code: String {
        switch self {
        case .invalid: "invalid_experiment"
        case .alreadyRunning: "experiment_running"
        case .duplicateID: "duplicate_experiment"
        case .unknown: "unknown_experiment"
        case .notRunning: "experiment_not_running"
        case .unknownModel: "unknown_model_version"
        }
    }
}
