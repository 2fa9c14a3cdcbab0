import Foundation
import StackTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every loop that sleeps between rounds (the trainer's schedule, the processor's lag refresher, the
/// gateway's broker readiness, the API's catalog refresher) must end its wait at once on SIGTERM: each
/// binary is started with its interval set far beyond the test, stopped by its PID once it is in that
/// wait, and must exit 0 within 2 s.
@Suite("sleeping loops end at once on SIGTERM (real binaries)", .serialized)
struct SleepingLoopShutdownTests {
    @Test("trainer schedule --every 24h, waiting out a 1 h retry: exit 0 within 2 s of SIGTERM")
    func trainerSchedule() async throws {
        let schema = TestStack.uniqueName("shutdown_trainer")
        _ = try await TestStack.createSchema(schema)
        defer { Task { try? await TestStack.dropSchema(schema) } }
        var environment = try Self.environment(schema: schema)
        environment["STREAMREC_TRAINER_ARTIFACTS_DIR"] = NSTemporaryDirectory() + schema
        // An empty training store: the run fails at once and the schedule waits the retry's hour.
        try await Self.stopsAtOnce(
            [TestStack.executable("trainer"), "schedule", "--every", "24h", "--retry", "1h", "--domain", "polls"], environment: environment,
            inTheWaitWhenTheLogSays: "scheduled run failed"
        )
    }

    @Test("stream-processor with its lag refresher and an idle consumer: exit 0 within 2 s of SIGTERM")
    func streamProcessor() async throws {
        let schema = TestStack.uniqueName("shutdown_processor")
        _ = try await TestStack.createSchema(schema)
        defer { Task { try? await TestStack.dropSchema(schema) } }
        var environment = try Self.environment(schema: schema)
        environment["STREAMREC_HTTP_PORT"] = String(TestStack.freePort())
        environment["STREAMREC_KAFKA_GROUP_ID"] = schema
        environment["STREAMREC_KAFKA_SESSION_TIMEOUT"] = "6s"
        environment["STREAMREC_KAFKA_HEARTBEAT_INTERVAL"] = "1s"
        environment["STREAMREC_TOPICS_MOVIE"] = schema + "-movie"
        environment["STREAMREC_TOPICS_POLL"] = schema + "-poll"
        environment["STREAMREC_TOPICS_DEAD_LETTER"] = schema + "-dead-letter"
        environment["STREAMREC_TOPICS_PARTITIONS"] = "1"
        environment["STREAMREC_FEATURES_KEY_PREFIX"] = schema + ":v1"
        // Assigned: the consumer polls, the lag refresher sleeps between its rounds.
        try await Self.stopsAtOnce([TestStack.executable("stream-processor")], environment: environment, inTheWaitWhenTheLogSays: "partitions rebalanced")
    }

    @Test("ingest-gateway with a 1 h broker-readiness interval: exit 0 within 2 s of SIGTERM")
    func ingestGateway() async throws {
        let suffix = TestStack.uniqueName("shutdown_gateway")
        var environment = try Self.environment(schema: nil)
        environment["STREAMREC_HTTP_PORT"] = String(TestStack.freePort())
        environment["STREAMREC_GATEWAY_API_KEYS"] = "tests:shutdown-test-producer-key"
        environment["STREAMREC_GATEWAY_READINESS_INTERVAL"] = "1h"
        environment["STREAMREC_TOPICS_MOVIE"] = suffix + "-movie"
        environment["STREAMREC_TOPICS_POLL"] = suffix + "-poll"
        environment["STREAMREC_TOPICS_PARTITIONS"] = "1"
        // The first readiness round created the topics; the loop now waits its hour.
        try await Self.stopsAtOnce([TestStack.executable("ingest-gateway")], environment: environment, inTheWaitWhenTheLogSays: "created event topics")
    }

    @Test("inference-api with a 1 h metadata refresh: exit 0 within 2 s of SIGTERM")
    func inferenceAPI() async throws {
        let schema = TestStack.uniqueName("shutdown_api")
        _ = try await TestStack.createSchema(schema)
        defer { Task { try? await TestStack.dropSchema(schema) } }
        var environment = try Self.environment(schema: schema)
        environment["STREAMREC_HTTP_PORT"] = String(TestStack.freePort())
        environment["STREAMREC_FEATURES_KEY_PREFIX"] = schema + ":v1"
        environment["STREAMREC_TOPICS_MODEL_UPDATED"] = schema + "-model-updated"
        environment["STREAMREC_INFERENCE_METADATA_REFRESH"] = "1h"
        environment["STREAMREC_TRAINER_ARTIFACTS_DIR"] = NSTemporaryDirectory() + schema
        // Once its model-updated consumer holds its partition (a SIGTERM during the group join waits for
        // librdkafka's close, which is not a sleep): the refresher waits its hour.
        try await Self.stopsAtOnce([TestStack.executable("inference-api")], environment: environment, inTheWaitWhenTheLogSays: "kafka partitions assigned")
    }
}

extension SleepingLoopShutdownTests {
    /// The test stack's servers, the repository's configs, info logs (the markers waited for are info).
    static func environment(schema: String?) throws -> [String: String] {
        var environment = TestStack.environment
        environment["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        environment["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = TestStack.repositoryRoot + "/configs/migrations"
        environment["STREAMREC_KAFKA_BROKERS"] = try TestStack.kafkaBrokers().joined(separator: ",")
        environment["STREAMREC_LOG_LEVEL"] = "info"
        if let schema { environment["STREAMREC_POSTGRES_SCHEMA"] = schema }
        return environment
    }

    /// Starts the binary, waits (≤ 60 s) until its log holds `marker` and half a second more (the loop is
    /// then in its wait), sends SIGTERM to its PID and expects exit status 0 within 2 s. Kills it by PID
    /// in any case.
    static func stopsAtOnce(_ arguments: [String], environment: [String: String], inTheWaitWhenTheLogSays marker: String) async throws {
        let log = NSTemporaryDirectory() + "sleeping-loop-\(UUID().uuidString).log"
        let pid = try TestStack.spawnInBackground(arguments, environment: environment, outputPath: log)
        defer {
            kill(pid, SIGKILL)
            _ = waitpid(pid, nil, WNOHANG)
            try? FileManager.default.removeItem(atPath: log)
        }
        func output() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        let deadline = ContinuousClock.now + .seconds(60)
        while !output().contains(marker), ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { Issue.record("\(arguments[0]) exited before \"\(marker)\": \(output().suffix(3000))"); return }
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(output().contains(marker), "\"\(marker)\" not logged within 60 s: \(output().suffix(3000))")
        try await Task.sleep(for: .milliseconds(500))

        let signalled = ContinuousClock.now
        kill(pid, SIGTERM)
        let status = await TestStack.waitForExit(pid, timeout: .seconds(2))
        let took = ContinuousClock.now - signalled
        #expect(status == 0, "exit status \(status.map(String.init) ?? "none within 2 s") after SIGTERM (\(took)): \(output().suffix(3000))")
    }
}
