import Events
import HTTPSupport
import HTTPTypes
import Hummingbird
import Serving

/// `GET /v1/models` (the models served, with their data and metrics) and `POST /v1/admin/reload` (load
/// the registry's production models now; a bearer token, compared in constant time).
enum ModelRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/models") { _, _ in
            JSONResponse.make(.ok, .object([("models", .array(EventDomain.allCases.compactMap { service.models.model(for: $0).map(describe) }))]))
        }
        router.post("/v1/admin/reload") { request, _ in
            try authorizeAdmin(request, token: service.adminToken)
            var versions: [(key: String, value: JSONValue)] = []
            for domain in EventDomain.allCases {
                do {
                    let version = try await service.models.reload(domain: domain)
                    versions.append((domain.name, version.map { .string($0) } ?? .null))
                } catch {
                    throw APIError(.unprocessableContent, code: "model_refused", message: "\(domain.name): \(error); the previous model keeps serving", field: nil)
                }
            }
            return JSONResponse.make(.ok, .object([("models", .object(versions))]))
        }
    }

    static func authorizeAdmin(_ request: Request, token: String) throws {
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, code: "missing_admin_token", message: "send Authorization: Bearer <admin token>")
        }
        let presented = Array(header.utf8.dropFirst("Bearer ".count))
        // Constant time: the comparison does not stop at the first differing byte.
        let expected = Array(token.utf8)
        var difference = UInt8(presented.count == expected.count ? 0 : 1)
        for index in 0..<min(presented.count, expected.count) { difference |= presented[index] ^ expected[index] }
        guard !token.isEmpty, header.hasPrefix("Bearer "), difference == 0 else {
            throw APIError(.forbidden, code: "invalid_admin_token", message: "the admin token is not valid")
        }
    }

    static func describe(_ model: ServingModel) -> JSONValue {
        let manifest = model.manifest
        return .object([
            ("domain", .string(manifest.domain)), ("version", .string(manifest.version)), ("kind", .string(manifest.kind)),
            ("top_n_model", .string(model.bundle.topNKind.rawValue)),
            ("trained_at", .string(manifest.createdAt.description)),
            ("data", .object([
                ("rows", .number(String(manifest.dataRows))),
                ("max_event_time", manifest.dataMaxEventTime.map { .string($0.description) } ?? .null),
                ("content_hash", .string(manifest.dataContentHash)),
            ])),
            ("metrics", .object(manifest.metrics.sorted { $0.key < $1.key }.map { ($0.key, .number(String($0.value))) })),
        ])
    }
}
