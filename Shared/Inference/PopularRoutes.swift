import Events
import Features
import HTTPSupport
import Hummingbird
import Serving

/// `GET /v1/popular` (a window's most engaged-with items) and `GET /v1/trending` (the short window's rate
/// against the long one's), optionally within a genre or category.
enum PopularRoutes {
    static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        router.get("/v1/popular") { request, _ in
            let query = InferenceQuery(request)
            let domain = try query.domain()
            let k = try query.k()
            let window = try query.window(of: service.features.configuration) ?? service.engine.popularWindow
            let group = query.group(domain)
            do {
                let popular = try await service.engine.popular(domain, window: window, group: group, now: service.clock())
                return listResponse(domain, [("window", window)], popular, k: k, catalog: service.catalog)
            } catch {
                throw APIError.featuresUnavailable(error)
            }
        }
        router.get("/v1/trending") { request, _ in
            let query = InferenceQuery(request)
            let domain = try query.domain()
            let k = try query.k()
            let group = query.group(domain)
            do {
                let trending = try await service.engine.trending(domain, group: group, now: service.clock())
                let windows: [(key: StaticString, value: String)] = [
                    ("short_window", service.features.configuration.trendingShortWindow), ("long_window", service.features.configuration.trendingLongWindow),
                ]
                return listResponse(domain, windows, trending, k: k, catalog: service.catalog)
            } catch {
                throw APIError.featuresUnavailable(error)
            }
        }
    }

    /// The domain, which list (`describing`: its window or windows), `degraded`, and the first `k` items,
    /// written straight to bytes.
    static func listResponse(
        _ domain: EventDomain, _ describing: [(key: StaticString, value: String)], _ list: (items: [ScoredItem], degraded: Bool), k: Int,
        catalog: CatalogMetadata
    ) -> Response {
        var writer = JSONWriter(capacity: 160 + 160 * min(k, list.items.count))
        writer.append(UInt8(ascii: "{"))
        writer.key("domain", first: true)
        writer.string(domain.name)
        for (key, value) in describing {
            writer.key(key)
            writer.string(value)
        }
        writer.key("degraded")
        writer.raw(list.degraded ? "true" : "false")
        writer.key("items")
        ItemJSON.writeItems(&writer, domain, list.items.prefix(k), catalog: catalog, because: [:])
        writer.append(UInt8(ascii: "}"))
        return JSONResponse.make(.ok, encoded: writer.bytes)
    }
}
