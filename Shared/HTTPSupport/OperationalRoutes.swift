import Events
import Hummingbird

/// `/healthz` (the process answers), `/readyz` (its dependencies are usable; 503 otherwise, with the
/// failing checks) and `/metrics` (Prometheus).
public enum OperationalRoutes {
    /// - Parameter beforeScrape: refreshes gauges that are sampled rather than updated as things happen
    ///   (queue depths), right before each `/metrics` exposition.
    /// - Parameter degradable: checks whose failure leaves the service answering, with less: `/readyz`
    ///   then says `degraded` with 200 (keep sending traffic); any other failing check is 503.
    public static func add<Context: RequestContext>(
        to router: Router<Context>, metrics: some MetricsExposition,
        beforeScrape: @escaping @Sendable () -> Void = {},
        degradable: Set<String> = [],
        readiness: @escaping @Sendable () async -> [(String, String?)]
    ) {
        router.get("/healthz") { _, _ in
            JSONResponse.make(.ok, .object([("status", .string("ok"))]))
        }
        router.get("/readyz") { _, _ in
            let checks = await readiness()
            let failing = checks.filter { $0.1 != nil }.map(\.0)
            let ready = failing.allSatisfy { degradable.contains($0) }
            let body: JSONValue = .object([
                ("status", .string(!ready ? "not_ready" : failing.isEmpty ? "ready" : "degraded")),
                ("checks", .object(checks.map { ($0.0, .string($0.1 ?? "ok")) })),
            ])
            return JSONResponse.make(ready ? .ok : .serviceUnavailable, body)
        }
        router.get("/metrics") { _, _ in
            beforeScrape()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
            )
        }
    }
}
