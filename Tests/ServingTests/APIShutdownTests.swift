import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import StackTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Inference API process: graceful shutdown under load", .serialized)
struct APIShutdownTests {
    @Test("SIGTERM while 16 clients ask for recommendations: every answer received is a whole 200, and the process exits 0")
    func sigtermUnderLoad() async throws {
        let fixture = try await RecommendationEngineTests.Fixture()
        let port = TestStack.freePort()
        var environment = TestStack.environment
        environment["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        environment["STREAMREC_LOG_LEVEL"] = "warning"
        environment["STREAMREC_HTTP_PORT"] = String(port)
        environment["STREAMREC_KAFKA_BROKERS"] = try TestStack.kafkaBrokers().joined(separator: ",")
        environment["STREAMREC_FEATURES_KEY_PREFIX"] = fixture.schema + ":v1"
        environment["STREAMREC_POSTGRES_SCHEMA"] = fixture.schema
        environment["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = TestStack.repositoryRoot + "/configs/migrations"
        environment["STREAMREC_TOPICS_MODEL_UPDATED"] = TestStack.uniqueName("model-updated")
        let log = NSTemporaryDirectory() + TestStack.uniqueName("api-shutdown") + ".log"
        let pid = try TestStack.spawnInBackground([TestStack.executable("inference-api")], environment: environment, outputPath: log)
        defer {
            kill(pid, SIGKILL)
            try? FileManager.default.removeItem(atPath: log)
        }
        var ready = false
        for _ in 0..<200 where !ready {
            let client = TestClient(host: "127.0.0.1", port: port)
            client.connect()
            let response = try? await client.execute(.init("/v1/models", method: .get))
            try? await client.shutdown()
            ready = response?.body.map { String(buffer: $0).contains(#""polls""#) } ?? false
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready, "the API did not serve the polls model: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")

        let answers = Answers()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for clientIndex in 0..<16 {
                group.addTask {
                    let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(20)))
                    client.connect()
                    for request in 0..<100_000 {
                        let uri = "/v1/users/u\((clientIndex * 31 + request) % 300)/recommendations?domain=polls&k=10"
                        // A connection closed by the shutdown ends this client: that request was never answered.
                        guard let response = try? await client.execute(.init(uri, method: .get)) else { break }
                        answers.record(status: response.head.status, whole: response.body.map { String(buffer: $0).hasSuffix("}") } ?? false)
                    }
                    try? await client.shutdown()
                }
            }
            // SIGTERM once the load is established, not after a fixed time.
            let deadline = ContinuousClock.now + .seconds(30)
            while answers.count < 300, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            kill(pid, SIGTERM)
            try await group.waitForAll()
        }
        let exitCode = await TestStack.waitForExit(pid, timeout: .seconds(30))
        #expect(exitCode == 0, "exit code \(String(describing: exitCode)); log: \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(2000))")
        let summary = answers.summary
        #expect(summary.total >= 300, "load was running when SIGTERM arrived")
        #expect(summary.notOK == 0, "answers other than 200: \(summary.notOK)")
        #expect(summary.truncated == 0, "bodies cut short: \(summary.truncated)")
        try await fixture.finish()
    }
}

/// Answers seen by the load clients (counted while they run).
final class Answers: Sendable {
    private let state = Mutex((total: 0, notOK: 0, truncated: 0))
    func record(status: HTTPResponse.Status, whole: Bool) {
        state.withLock {
            $0.total += 1
            if status != .ok { $0.notOK += 1 }
            if !whole { $0.truncated += 1 }
        }
    }
    var count: Int { state.withLock { $0.total } }
    var summary: (total: Int, notOK: Int, truncated: Int) { state.withLock { $0 } }
}
