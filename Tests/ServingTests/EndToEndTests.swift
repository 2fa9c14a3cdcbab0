import Events
import Foundation
import LoadGeneration
import Serving
import StackTestSupport
import Testing

@Suite("A vote through the real gateway and processor binaries changes the next recommendations", .serialized)
struct EndToEndTests {
    @Test("vote posted to ingest-gateway → Kafka → stream-processor → Redis → a different answer, the voted poll filtered")
    func voteChangesRecommendations() async throws {
        let fixture = try await RecommendationEngineTests.Fixture()
        _ = try await fixture.repository.reload(domain: "polls")
        let name = TestStack.uniqueName("e2e")
        let key = "e2e-key-\(UUID().uuidString)"
        let gatewayPort = TestStack.freePort()
        var common = TestStack.environment
        common["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        common["STREAMREC_TOPICS_MOVIE"] = "\(name)-movie"
        common["STREAMREC_TOPICS_POLL"] = "\(name)-poll"
        common["STREAMREC_LOG_LEVEL"] = "warning"
        var gateway = common
        gateway["STREAMREC_HTTP_PORT"] = String(gatewayPort)
        gateway["STREAMREC_GATEWAY_API_KEYS"] = "tests:\(key)"
        var processor = common
        processor["STREAMREC_HTTP_PORT"] = String(TestStack.freePort())
        processor["STREAMREC_KAFKA_GROUP_ID"] = name
        processor["STREAMREC_TOPICS_DEAD_LETTER"] = "\(name)-dlq"
        processor["STREAMREC_FEATURES_KEY_PREFIX"] = fixture.schema + ":v1"
        processor["STREAMREC_POSTGRES_SCHEMA"] = fixture.schema
        processor["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = TestStack.repositoryRoot + "/configs/migrations"
        let logs = [NSTemporaryDirectory() + "\(name)-gateway.log", NSTemporaryDirectory() + "\(name)-processor.log"]
        let pids = [
            try TestStack.spawnInBackground([TestStack.executable("ingest-gateway")], environment: gateway, outputPath: logs[0]),
            try TestStack.spawnInBackground([TestStack.executable("stream-processor")], environment: processor, outputPath: logs[1]),
        ]
        defer {
            for pid in pids { kill(pid, SIGKILL) }
            for log in logs { try? FileManager.default.removeItem(atPath: log) }
        }

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let before = try await fixture.engine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 10), now: now)
        #expect(before.strategy == .personalised)
        let voted = try #require(before.items.first?.item)
        let vote = Event(
            eventID: EventID.random(), type: .pollVote, userID: "u0", subjectID: voted,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: now), payload: .vote(optionID: "o0")
        )
        var outcome = EventReplay.Outcome()
        for _ in 0..<100 {  // until the gateway listens
            if let result = try? await EventReplay.replay([vote], host: "127.0.0.1", port: gatewayPort, apiKey: key) {
                outcome = result
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(outcome.accepted == 1)
        // The processor joins its group, reads the vote and applies it; the next answer changes.
        let posted = ContinuousClock.now
        var after = before
        while ContinuousClock.now - posted < .seconds(60) {
            after = try await fixture.engine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 10), now: Int64(Date().timeIntervalSince1970 * 1000))
            if !after.items.map(\.item).contains(voted) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(after.strategy == .personalised)
        #expect(!after.items.map(\.item).contains(voted), "the voted poll is still recommended after 60 s")
        #expect(after.items.map(\.item) != Array(before.items.dropFirst().map(\.item)) || after.items.map(\.score) != Array(before.items.dropFirst().map(\.score)))
        try await fixture.finish()
    }
}
