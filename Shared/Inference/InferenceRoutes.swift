import Events
import Features
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import Logging
import ModelStore
import Redis
import Serving
import ModelRegistry

/// What the inference API's routes need.
public struct InferenceService: Sendable {
    public let engine: RecommendationEngine
    public let features: FeatureReader
    public let catalog: CatalogMetadata
    public let models: ModelRepository
    /// Bearer token of `POST /v1/admin/reload`; empty disables the route.
    public let adminToken: String
    public let clock: @Sendable () -> Int64
    public let ui: UIConfiguration
    /// `POST /v1/predict` calls, over all callers (one bucket): bounds the CPU the route can take.
    public let predictLimiter: RateLimiter

    /// What the web page needs to post events (`GET /v1/ui/config`).
    public struct UIConfiguration: Sendable {
        public var gatewayURL: String
        /// Handed to every visitor: set only for local demos.
        public var gatewayAPIKey: String?

        public init(gatewayURL: String = "http://127.0.0.1:8080", gatewayAPIKey: String? = nil) {
            self.gatewayURL = gatewayURL
            self.gatewayAPIKey = gatewayAPIKey
        }
    }

    public init(
        engine: RecommendationEngine, features: FeatureReader, catalog: CatalogMetadata, models: ModelRepository, adminToken: String,
        clock: @escaping @Sendable () -> Int64, ui: UIConfiguration = UIConfiguration(),
        predictLimiter: RateLimiter = RateLimiter(ratePerSecond: 0, burst: 1)
    ) {
        self.predictLimiter = predictLimiter
        self.engine = engine
        self.features = features
        self.catalog = catalog
        self.models = models
        self.adminToken = adminToken
        self.clock = clock
        self.ui = ui
    }
}

/// The inference API's routes: recommendations, a user's profile, popular, trending, similar items,
/// predicted ratings, poll results, models, admin reload.
public enum InferenceRoutes {
    public static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        PredictRoutes.add(to: router, service: service)
        PreferenceRoutes.add(to: router, service: service)
        router.get("/v1/users/:user_id/recommendations") { request, context in
            let user = try identifier(context.parameters.get("user_id"), field: "user_id")
            let query = request.uri.queryParameters
            let domain = try domainParameter(query)
            let k = try kParameter(query)
            let excludeSeen = try boolParameter(query, "exclude_seen", default: true)
            let group = query.get(domain == .movie ? "genre" : "category")
            let exclude = Set((query.get("exclude") ?? "").split(separator: ",").map(String.init))
            guard exclude.count <= 500 else {
                throw APIError(.badRequest, code: "invalid_parameter", message: "at most 500 excluded items", field: "exclude")
            }
            let reasons = try boolParameter(query, "reasons", default: false)
            let window = try windowParameter(query, service: service)
            let result: RecommendationResult
            do {
                result = try await service.engine.recommend(
                    RecommendationRequest(user: user, domain: domain, k: k, excludeSeen: excludeSeen, group: group, exclude: exclude, reasons: reasons, window: window),
                    now: service.clock()
                )
            } catch {
                throw featuresUnavailable(error)
            }
            // The hottest route: written straight to bytes (no JSON tree), items' metadata pre-encoded.
            var writer = JSONWriter(capacity: 192 + 160 * result.items.count)
            writer.append(UInt8(ascii: "{"))
            writer.key("user_id", first: true)
            writer.string(user)
            writer.key("domain")
            writer.string(RecommendationEngine.modelDomain(domain))
            writer.key("strategy")
            writer.string(result.strategy.rawValue)
            writer.key("model_version")
            if let version = result.modelVersion { writer.string(version) } else { writer.raw("null") }
            writer.key("degraded")
            writer.raw(result.degraded ? "true" : "false")
            writer.key("items")
            writeItems(&writer, domain, result.items[...], catalog: service.catalog, because: result.because)
            writer.append(UInt8(ascii: "}"))
            return JSONResponse.make(.ok, encoded: writer.bytes)
        }
        router.get("/v1/popular") { request, _ in
            let query = request.uri.queryParameters
            let domain = try domainParameter(query)
            let k = try kParameter(query)
            let window = try windowParameter(query, service: service) ?? service.engine.popularWindow
            let group = query.get(domain == .movie ? "genre" : "category")
            do {
                let popular = try await service.engine.popular(domain, window: window, group: group, now: service.clock())
                return listResponse(domain, [("window", window)], popular, k: k, catalog: service.catalog)
            } catch {
                throw featuresUnavailable(error)
            }
        }
        router.get("/v1/trending") { request, _ in
            let query = request.uri.queryParameters
            let domain = try domainParameter(query)
            let k = try kParameter(query)
            let group = query.get(domain == .movie ? "genre" : "category")
            do {
                let trending = try await service.engine.trending(domain, group: group, now: service.clock())
                let windows: [(key: StaticString, value: String)] = [
                    ("short_window", service.features.configuration.trendingShortWindow), ("long_window", service.features.configuration.trendingLongWindow),
                ]
                return listResponse(domain, windows, trending, k: k, catalog: service.catalog)
            } catch {
                throw featuresUnavailable(error)
            }
        }
        router.get("/v1/polls/:poll_id/results") { _, context in
            let poll = try identifier(context.parameters.get("poll_id"), field: "poll_id")
            let tally: PollTally
            do {
                tally = try await service.features.pollTally(poll)
            } catch {
                throw featuresUnavailable(error)
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
        router.get("/v1/users/:user_id/profile") { request, context in
            let user = try identifier(context.parameters.get("user_id"), field: "user_id")
            let query = request.uri.queryParameters
            let domain = try domainParameter(query)
            let historyLimit = try intParameter(query, "history", in: 0...200, default: 20)
            let affinity: [String: Double]
            let history: [HistoryEntry]
            let lastActive: EventTimestamp?
            do {
                affinity = try await service.features.affinity(user: user, domain: domain)
                history = historyLimit > 0 ? try await service.features.history(user: user, domain: domain, limit: historyLimit) : []
                lastActive = try await service.features.lastActive(user: user)
            } catch {
                throw featuresUnavailable(error)
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
                ("user_id", .string(user)), ("domain", .string(RecommendationEngine.modelDomain(domain))),
                ("last_active", lastActive.map { .string($0.description) } ?? .null),
                ("affinities", .array(affinities)), ("history", .array(entries)),
            ]))
        }
        router.get("/v1/items/:item_id/similar") { request, context in
            let itemID = try identifier(context.parameters.get("item_id"), field: "item_id")
            let domain = try domainParameter(request.uri.queryParameters)
            let k = try kParameter(request.uri.queryParameters)
            guard let model = service.models.model(for: RecommendationEngine.modelDomain(domain)) else {
                throw APIError.unavailable(code: "no_model", message: "no \(RecommendationEngine.modelDomain(domain)) model is served yet", retryAfter: .seconds(30))
            }
            guard let similar = model.similar(to: itemID, k: k) else {
                throw APIError(.notFound, code: "unknown_item", message: "the model does not know \(itemID)", field: "item_id")
            }
            return JSONResponse.make(.ok, .object([
                ("item_id", .string(itemID)), ("domain", .string(RecommendationEngine.modelDomain(domain))), ("model_version", .string(model.manifest.version)),
                ("items", .array(similar.map { item(domain, ScoredItem(item: $0.item, score: Double($0.score)), catalog: service.catalog) })),
            ]))
        }
        router.get("/v1/ui/config") { _, _ in
            JSONResponse.make(.ok, .object([
                ("gateway_url", .string(service.ui.gatewayURL)), ("gateway_api_key", service.ui.gatewayAPIKey.map { .string($0) } ?? .null),
                ("groups", .object([
                    ("movies", .array(service.catalog.knownGroups(.movie).sorted().map { .string($0) })),
                    ("polls", .array(service.catalog.knownGroups(.poll).sorted().map { .string($0) })),
                ])),
            ]))
        }
        router.get("/v1/models") { _, _ in
            JSONResponse.make(.ok, .object([("models", .array(["movies", "polls"].compactMap { service.models.model(for: $0).map(describe) }))]))
        }
        router.post("/v1/admin/reload") { request, _ in
            try authorizeAdmin(request, token: service.adminToken)
            var versions: [(key: String, value: JSONValue)] = []
            for domain in ["movies", "polls"] {
                do {
                    let version = try await service.models.reload(domain: domain)
                    versions.append((domain, version.map { .string($0) } ?? .null))
                } catch {
                    throw APIError(.unprocessableContent, code: "model_refused", message: "\(domain): \(error); the previous model keeps serving", field: nil)
                }
            }
            return JSONResponse.make(.ok, .object([("models", .object(versions))]))
        }
    }

    // MARK: - Parameters

    /// The helpers below take the parsed query: `request.uri.queryParameters` parses the query string on
    /// every access, so a route reading several parameters parses it once.
    static func domainParameter(_ query: Parameters) throws -> EventDomain {
        switch query.get("domain") ?? "movies" {
        case "movies": .movie
        case "polls": .poll
        default: throw APIError(.badRequest, code: "invalid_parameter", message: "domain is movies or polls", field: "domain")
        }
    }

    /// An integer parameter within `range`; `value` when absent.
    static func intParameter(_ query: Parameters, _ name: String, in range: ClosedRange<Int>, default value: Int) throws -> Int {
        guard let text = query.get(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "\(name) is an integer from \(range.lowerBound) to \(range.upperBound)", field: name)
        }
        return number
    }

    static func kParameter(_ query: Parameters) throws -> Int {
        try intParameter(query, "k", in: 1...100, default: 20)
    }

    /// `window=`, one of the configured windows; nil when absent.
    static func windowParameter(_ query: Parameters, service: InferenceService) throws -> String? {
        guard let window = query.get("window") else { return nil }
        guard service.features.configuration.window(named: window) != nil else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "window is one of \(service.features.configuration.windows.map(\.name))", field: "window")
        }
        return window
    }

    static func boolParameter(_ query: Parameters, _ name: String, default value: Bool) throws -> Bool {
        switch query.get(name) {
        case nil: return value
        case "true"?: return true
        case "false"?: return false
        default: throw APIError(.badRequest, code: "invalid_parameter", message: "\(name) is true or false", field: name)
        }
    }

    /// A path parameter, percent-decoded: 1–128 characters (code points, as the OpenAPI file's maxLength
    /// counts them), no control characters or braces. The event contract's ids are at most 128 bytes, so a
    /// longer one here is valid to ask for and simply unknown.
    static func identifier(_ raw: String?, field: String) throws -> String {
        // Foundation's percent-decoding is costly on this hot path; most ids have nothing to decode.
        let text = raw.flatMap { $0.utf8.contains(UInt8(ascii: "%")) ? $0.removingPercentEncoding : $0 }
        guard let text, !text.isEmpty, text.unicodeScalars.count <= EventLimits.idMaxBytes,
            !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "{" || $0 == "}" })
        else { throw APIError(.badRequest, code: "invalid_parameter", message: "\(field) must be 1–\(EventLimits.idMaxBytes) characters without control characters or braces", field: field) }
        return text
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

    static func featuresUnavailable(_ error: any Error) -> APIError {
        // The cause (hosts, Redis replies) goes to the log, not to the caller.
        logger.warning("Redis is not reachable", metadata: ["error": "\(error)"])
        return APIError.unavailable(code: "features_unavailable", message: "the feature store is not reachable; retry later", retryAfter: .seconds(2))
    }

    static let logger = Logger(label: "streamrec.inference")

    // MARK: - Bodies

    /// `/v1/popular` and `/v1/trending`: the domain, which list (`describing`: its window or windows),
    /// `degraded`, and the first `k` items, written straight to bytes.
    static func listResponse(
        _ domain: EventDomain, _ describing: [(key: StaticString, value: String)], _ list: (items: [ScoredItem], degraded: Bool), k: Int,
        catalog: CatalogMetadata
    ) -> Response {
        var writer = JSONWriter(capacity: 160 + 160 * min(k, list.items.count))
        writer.append(UInt8(ascii: "{"))
        writer.key("domain", first: true)
        writer.string(RecommendationEngine.modelDomain(domain))
        for (key, value) in describing {
            writer.key(key)
            writer.string(value)
        }
        writer.key("degraded")
        writer.raw(list.degraded ? "true" : "false")
        writer.key("items")
        writeItems(&writer, domain, list.items.prefix(k), catalog: catalog, because: [:])
        writer.append(UInt8(ascii: "}"))
        return JSONResponse.make(.ok, encoded: writer.bytes)
    }

    /// An item of a response: id, score, the catalog's metadata, and `because` (the history item it is most
    /// like) as a short reason when there is one.
    /// ``writeItems(_:_:_:catalog:because:)`` writes the same members straight to bytes (tested equal).
    static func item(_ domain: EventDomain, _ scored: ScoredItem, catalog: CatalogMetadata, because: String? = nil) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [("item_id", .string(scored.item)), ("score", .number(String(scored.score)))]
        members.append(contentsOf: catalog.jsonMembers(domain, scored.item))
        if let because { members.append(("reason", reason(domain, because: because, catalog: catalog))) }
        return .object(members)
    }

    static func reason(_ domain: EventDomain, because: String, catalog: CatalogMetadata) -> JSONValue {
        let name = domain == .movie ? catalog.movie(because).map { PredictRoutes.display($0.title, $0.year) } : catalog.poll(because)?.question
        let verb = domain == .movie ? "liked" : "engaged with"
        return .object([("item_id", .string(because)), ("text", .string("because you \(verb) \(name ?? because)"))])
    }

    /// A JSON array of items, as ``item(_:_:catalog:because:)`` describes each, written to `writer`.
    static func writeItems(
        _ writer: inout JSONWriter, _ domain: EventDomain, _ items: ArraySlice<ScoredItem>, catalog: CatalogMetadata, because: [String: String]
    ) {
        writer.append(UInt8(ascii: "["))
        let fragments = catalog.jsonFragments(domain, items.map(\.item))
        for (offset, scored) in items.enumerated() {
            if offset > 0 { writer.append(UInt8(ascii: ",")) }
            writer.append(UInt8(ascii: "{"))
            writer.key("item_id", first: true)
            writer.string(scored.item)
            writer.key("score")
            writer.number(String(scored.score))
            let fragment = fragments[offset]
            if !fragment.isEmpty {
                writer.append(UInt8(ascii: ","))
                writer.append(contentsOf: fragment)
            }
            if let reason = because[scored.item] {
                writer.key("reason")
                writer.value(Self.reason(domain, because: reason, catalog: catalog))
            }
            writer.append(UInt8(ascii: "}"))
        }
        writer.append(UInt8(ascii: "]"))
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
