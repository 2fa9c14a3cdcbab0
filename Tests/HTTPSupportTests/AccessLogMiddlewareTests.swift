import HTTPSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@Suite("Access log: one line per request, the route's template, never the raw path")
struct AccessLogMiddlewareTests {
    @Test("method, path template, final status (errors too), duration and request id as metadata")
    func linePerRequest() async throws {
        let captured = CapturedLog()
        let logger = Logger(label: "access-log-tests") { _ in CapturedLog.Handler(log: captured) }
        let router = Router()
        router.middlewares.add(AccessLogMiddleware(logger: logger))
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        router.get("/v1/users/:user_id/profile") { _, _ in "fine" }
        router.get("/refused") { _, _ -> String in throw APIError(.badRequest, code: "invalid_parameter", message: "no", field: "k") }
        try await Application(router: router, logger: logger).test(.router) { client in
            try await client.execute(uri: "/v1/users/alice-42/profile", method: .get, headers: [.requestID: "req-1"]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/refused", method: .get) { #expect($0.status == .badRequest) }
        }
        let lines = captured.lines.withLock { $0 }.filter { $0.message == "request" }
        try #require(lines.count == 2, "\(captured.lines.withLock { $0 })")
        #expect(lines[0].metadata["method"] == "GET")
        #expect(lines[0].metadata["path"] == "/v1/users/{user_id}/profile", "the template, not the user's id")
        #expect(lines[0].metadata["status"] == "200")
        #expect(lines[0].metadata["request_id"] == "req-1")
        #expect(Double(lines[0].metadata["duration_ms"] ?? "") != nil)
        #expect(lines[1].metadata["status"] == "400", "the status the error middleware answered")
        #expect((lines[1].metadata["request_id"] ?? "-") != "-", "the id the error middleware gave the request")
    }
}
