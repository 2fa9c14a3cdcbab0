import Events
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// Keeps what was logged, to check what an unexpected error leaves in the log.
final class CapturedLog: Sendable {
    let lines = Mutex<[(message: String, metadata: [String: String])]>([])

    struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            let merged = self.metadata.merging(metadata ?? [:]) { $1 }.mapValues { "\($0)" }
            log.lines.withLock { $0.append(("\(message)", merged)) }
        }
    }
}

@Suite("Error middleware: every error is the JSON body, every response has a request id")
struct ErrorMiddlewareTests {
    struct DatabaseExploded: Error, CustomStringConvertible {
        var description: String { "password=hunter2 at 10.0.0.7" }
    }

    func withRouter(_ body: @Sendable (any TestClientProtocol, CapturedLog) async throws -> Void) async throws {
        let captured = CapturedLog()
        let router = Router()
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        router.get("/boom") { _, _ -> String in throw DatabaseExploded() }
        router.get("/refused") { _, _ -> String in throw APIError(.unprocessableContent, code: "unknown_title", message: "no such title", field: "ratings[0].title") }
        router.get("/ok") { _, _ in "fine" }
        let logger = Logger(label: "middleware-tests") { _ in CapturedLog.Handler(log: captured) }
        try await Application(router: router, logger: logger).test(.router) { try await body($0, captured) }
    }

    static func error(_ response: TestResponse) -> [String: JSONValue] {
        guard case .object(let members)? = try? JSONParser.parse(Array(response.body.readableBytesView)),
            case .object(let error)? = members.first(where: { $0.key == "error" })?.value
        else { return [:] }
        return Dictionary(uniqueKeysWithValues: error.map { ($0.key, $0.value) })
    }

    @Test("an unexpected error: 500 `internal` naming the request id, logged with it and the path; its text never reaches the client")
    func unexpectedErrorIs500WithRequestID() async throws {
        try await withRouter { client, log in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                let requestID = try #require(response.headers[.requestID])
                let error = Self.error(response)
                #expect(error["code"] == .string("internal"))
                guard case .string(let message)? = error["message"] else { Issue.record("no message"); return }
                #expect(message.contains(requestID))
                let body = String(buffer: response.body)
                #expect(!body.contains("hunter2") && !body.contains("10.0.0.7"), "details leaked: \(body)")
                let logged = log.lines.withLock { $0 }.filter { $0.message == "unexpected error" }
                #expect(logged.count == 1)
                #expect(logged.first?.metadata["request_id"] == requestID)
                #expect(logged.first?.metadata["path"] == "/boom")
                #expect(logged.first?.metadata["error"]?.contains("hunter2") == true, "the log keeps the cause for the operator")
            }
        }
    }

    @Test("API errors keep status, code and field; unknown routes are 404 `not_found`; a sane X-Request-ID is echoed, a hostile one replaced")
    func errorsAndRequestIDs() async throws {
        try await withRouter { client, _ in
            try await client.execute(uri: "/refused", method: .get) { response in
                #expect(response.status == .unprocessableContent)
                #expect(Self.error(response)["code"] == .string("unknown_title"))
                #expect(Self.error(response)["field"] == .string("ratings[0].title"))
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(Self.error(response)["code"] == .string("not_found"))
                #expect(response.headers[.requestID] != nil)
            }
            try await client.execute(uri: "/ok", method: .get, headers: [.requestID: "trace-42-abc"]) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.requestID] == "trace-42-abc")
            }
            try await client.execute(uri: "/ok", method: .get, headers: [.requestID: "a b\"<script>"]) { response in
                let id = response.headers[.requestID]
                #expect(id != nil && id != "a b\"<script>")
                #expect(id.map { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } } == true)
            }
        }
    }
}
