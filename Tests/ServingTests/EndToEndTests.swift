import Events
import Features
import Foundation
@testable import LoadGeneration
import Serving
import StackTestSupport
import Testing
import Training

@Suite("End to end through the real gateway, processor and API binaries", .serialized)
struct EndToEndTests {
    @Test("a vote posted to ingest-gateway → Kafka → stream-processor → Redis → a different answer from each served top-N kind (sequence-aware EASE, implicit ALS), the voted poll filtered; loadgen's freshness probes become visible through inference-api; the web page in headless Chromium changes after a click; ids full of metacharacters stored and returned verbatim")
    func voteChangesRecommendations() async throws {
        // The trainer pinned to sequence-aware EASE; the same artifact served as implicit ALS too
        // (`inference.top_n_model = implicit-als`): the vote must reach both kinds' next answers.
        let fixture = try await RecommendationEngineTests.Fixture(kind: .sequenceAwareEASE)
        _ = try await fixture.repository.reload(domain: .poll)
        #expect(fixture.repository.model(for: .poll)?.bundle.topNKind == .sequenceAwareEASE)
        var alsEngine = fixture.engine
        alsEngine.alwaysImplicitALS = true
        let name = TestStack.uniqueName("e2e")
        let key = "e2e-key-\(UUID().uuidString)"
        let gatewayPort = TestStack.freePort()
        let apiPort = TestStack.freePort()
        var common = TestStack.environment
        common["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        common["STREAMREC_TOPICS_MOVIE"] = "\(name)-movie"
        common["STREAMREC_TOPICS_POLL"] = "\(name)-poll"
        common["STREAMREC_LOG_LEVEL"] = "warning"
        var gateway = TestStack.gatewayEnvironment(port: gatewayPort, apiKey: key, movieTopic: "\(name)-movie", pollTopic: "\(name)-poll")
        gateway["STREAMREC_GATEWAY_CORS_ORIGINS"] = "http://127.0.0.1:\(apiPort)"  // the page posts from the API's origin
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
        let beforeALS = try await alsEngine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 10), now: now)
        #expect(beforeALS.strategy == .personalised)
        #expect(beforeALS.items.map(\.item) != before.items.map(\.item) || beforeALS.items.map(\.score) != before.items.map(\.score), "the two kinds answer alike")
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
        // Implicit ALS, from the same Redis state: the vote is folded in, the poll filtered.
        let afterALS = try await alsEngine.recommend(RecommendationRequest(user: "u0", domain: .poll, k: 10), now: Int64(Date().timeIntervalSince1970 * 1000))
        #expect(afterALS.strategy == .personalised)
        #expect(!afterALS.items.map(\.item).contains(voted))
        #expect(afterALS.items.map(\.item) != beforeALS.items.map(\.item) || afterALS.items.map(\.score) != beforeALS.items.map(\.score), "ALS answered as before the vote")

        // Ids full of SQL, Redis and shell metacharacters (and non-ASCII) are data: stored and returned
        // verbatim, never interpreted.
        let hostileUser = #"o'Brien"; DROP TABLE interactions; -- * $1 \ é"#
        let hostilePoll = #"p' OR '1'='1; FLUSHALL; EVAL "return 1" 0 [*] ?x=%00 ✓"#
        let hostileVote = Event(
            eventID: EventID.random(), type: .pollVote, userID: hostileUser, subjectID: hostilePoll,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)), payload: .vote(optionID: "o'1; DEL *")
        )
        #expect(try await EventReplay.replay([hostileVote], host: "127.0.0.1", port: gatewayPort, apiKey: key).accepted == 1)
        var tally = PollTally(options: [:], totalVoters: 0)
        let hostilePosted = ContinuousClock.now
        while ContinuousClock.now - hostilePosted < .seconds(30), tally.totalVoters == 0 {
            tally = try await fixture.engine.features.pollTally(hostilePoll)
            if tally.totalVoters == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(tally.totalVoters == 1 && tally.options == ["o'1; DEL *": 1], "tally \(tally)")
        let history = try await fixture.engine.features.history(user: hostileUser, domain: .poll, limit: 10)
        #expect(history.map(\.item) == [hostilePoll])
        var stored = 0
        for _ in 0..<100 where stored == 0 {  // the processor writes PostgreSQL beside Redis
            stored = try await fixture.postgres.query("SELECT count(*) FROM interactions WHERE user_id = \(hostileUser) AND item_id = \(hostilePoll)")[0].decode(0, as: Int.self)
            if stored == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(stored == 1)
        #expect(try await fixture.postgres.query("SELECT count(*) FROM interactions")[0].decode(0, as: Int.self) > 1)  // the table is still there

        // The load generator against the same binaries plus the inference-api binary: a steady load,
        // freshness probes that become visible through the API.
        var api = common
        api["STREAMREC_HTTP_PORT"] = String(apiPort)
        api["STREAMREC_KAFKA_BROKERS"] = try TestStack.kafkaBrokers().joined(separator: ",")
        api["STREAMREC_FEATURES_KEY_PREFIX"] = fixture.schema + ":v1"
        api["STREAMREC_POSTGRES_SCHEMA"] = fixture.schema
        api["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = TestStack.repositoryRoot + "/configs/migrations"
        api["STREAMREC_INFERENCE_WEB_ROOT"] = TestStack.repositoryRoot + "/Services/InferenceAPI/web"
        api["STREAMREC_INFERENCE_UI_GATEWAY_URL"] = "http://127.0.0.1:\(gatewayPort)"
        api["STREAMREC_INFERENCE_UI_GATEWAY_API_KEY"] = key
        // No periodic catalog re-read during the test: a new poll can only appear through the catalog
        // tables' NOTIFY.
        api["STREAMREC_INFERENCE_METADATA_REFRESH"] = "600s"
        let apiLog = NSTemporaryDirectory() + "\(name)-api.log"
        let apiPID = try TestStack.spawnInBackground([TestStack.executable("inference-api")], environment: api, outputPath: apiLog)
        defer {
            kill(apiPID, SIGKILL)
            try? FileManager.default.removeItem(atPath: apiLog)
        }
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? await HTTPConnection.connect(host: "127.0.0.1", port: apiPort).session { try await $0(.GET, "/v1/models", [], nil) })?.body.contains(#""polls""#) ?? false
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready, "the API did not serve the polls model")
        // A poll created through the gateway appears in the API's metadata within seconds: the processor
        // stores it in PostgreSQL, whose trigger notifies `streamrec_catalog`, and the listening API re-reads
        // its catalog (the periodic re-read is off here).
        let newPoll = "\(name)-new-poll"
        let created = Event(
            eventID: EventID.random(), type: .pollCreated, userID: "catalog", subjectID: newPoll,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)),
            payload: .pollCreated(PollDetails(
                question: "Which end-to-end poll is this?", options: [PollOption(id: "a", text: "This one"), PollOption(id: "b", text: "Another")],
                category: "testing", author: nil
            ))
        )
        #expect(try await EventReplay.replay([created], host: "127.0.0.1", port: gatewayPort, apiKey: key).accepted == 1)
        let createdAt = ContinuousClock.now
        var question: JSONValue?
        while ContinuousClock.now - createdAt < .seconds(15), question != .string("Which end-to-end poll is this?") {
            let response = try await HTTPConnection.connect(host: "127.0.0.1", port: apiPort).session { try await $0(.GET, "/v1/polls/\(newPoll)/results", [], nil) }
            if case .object(let members)? = try? JSONParser.parse(Array(response.body.utf8)) { question = members.first { $0.key == "question" }?.value }
            if question != .string("Which end-to-end poll is this?") { try await Task.sleep(for: .milliseconds(50)) }
        }
        print("a created poll appeared in the API's metadata after \(ContinuousClock.now - createdAt)")
        #expect(question == .string("Which end-to-end poll is this?"), "the created poll's question did not appear within 15 s")
        // The hostile ids come back verbatim through HTTP too.
        let encodedPoll = try #require(hostilePoll.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        let results = try await HTTPConnection.connect(host: "127.0.0.1", port: apiPort).session { try await $0(.GET, "/v1/polls/\(encodedPoll)/results", [], nil) }
        #expect(results.status == 200, "\(results.body)")
        if case .object(let members)? = try? JSONParser.parse(Array(results.body.utf8)) {
            #expect(members.first { $0.key == "poll_id" }?.value == .string(hostilePoll))
            #expect(members.first { $0.key == "total_voters" }?.value == .number("1"))
        } else {
            Issue.record("poll results are not a JSON object: \(results.body)")
        }
        var load = LoadGenerator.Configuration()
        load.gatewayPort = gatewayPort
        load.apiPort = apiPort
        load.apiKey = key
        load.rate = 300
        load.connections = 3
        load.duration = .seconds(3)
        load.probesPerSecond = 4
        // And the recommendation mix, open loop: 40 requests/s over 2 connections.
        load.recommendationRate = 40
        load.recommendationConnections = 2
        let templates = Bootstrap.events(polls: fixture.data).interactions
        let report = try await LoadGenerator(configuration: load, templates: templates, domain: .poll).run()
        print("loadgen in the end-to-end test: \(report.summary)")
        #expect(report.failedRequests.isEmpty, "\(report.summary)")
        #expect(report.eventsAccepted >= 600, "\(report.summary)")
        // Every scheduled request was sent and timed: 3 connections × 3 s / (3 × 10 events / 300 per s).
        #expect(report.requestLatencies.count == 90, "\(report.summary)")
        #expect(report.freshness.count >= 8 && report.probesTimedOut == 0 && report.probesFailed == 0, "\(report.summary)")
        #expect(report.freshness.allSatisfy { $0 > .zero && $0 < load.probeTimeout })
        #expect(report.recommendationLatencies.count == 120 && report.recommendationFailures.isEmpty, "\(report.summary)")
        #expect(report.recommendationLatencies.allSatisfy { $0 > .zero })

        // Single events to POST /v1/events: 100 per second for a second over 2 connections.
        var single = LoadGenerator.Configuration()
        (single.gatewayPort, single.apiKey, single.singleEvents) = (gatewayPort, key, true)
        (single.rate, single.connections, single.duration, single.probesPerSecond) = (100, 2, .seconds(1), 0)
        let singles = try await LoadGenerator(configuration: single, templates: templates, domain: .poll).run()
        #expect(singles.eventsAccepted == 100 && singles.requestLatencies.count == 100 && singles.failedRequests.isEmpty, "\(singles.summary)")

        // The web page in headless Chromium (scripts/browser-test.py over WebDriver): a new user's page
        // loads and offers to state preferences; one category stated gives the `preferences` strategy; a
        // vote is clicked, the list changes (browser → gateway with CORS → … → API).
        let screenshot = NSTemporaryDirectory() + "\(name)-page.png"
        let browserLog = NSTemporaryDirectory() + "\(name)-browser.log"
        defer {
            try? FileManager.default.removeItem(atPath: screenshot)
            try? FileManager.default.removeItem(atPath: browserLog)
        }
        let browser = try TestStack.spawnInBackground(
            ["/usr/bin/python3", TestStack.repositoryRoot + "/scripts/browser-test.py", "--url", "http://127.0.0.1:\(apiPort)/?user=web-e2e&domain=polls",
             "--screenshot", screenshot, "--timeout", "20", "--state-preferences"],
            environment: TestStack.environment, outputPath: browserLog
        )
        let browserStatus = await TestStack.waitForExit(browser, timeout: .seconds(120))
        let browserOutput = (try? String(contentsOfFile: browserLog, encoding: .utf8)) ?? ""
        print("browser test: \(browserOutput)")
        #expect(browserStatus == 0, "\(browserOutput)")
        #expect(FileManager.default.fileExists(atPath: screenshot))
        try await fixture.finish()
    }

    @Test("a lost connection's unsent requests: the due times left before the end")
    func unsentRequestsAfterALostConnection() {
        let start = ContinuousClock.now
        let interval = Duration.milliseconds(100)
        #expect(LoadGenerator.remainingSlots(after: start, interval: interval, end: start + .milliseconds(250)) == 2)
        #expect(LoadGenerator.remainingSlots(after: start, interval: interval, end: start + .milliseconds(200)) == 1)
        #expect(LoadGenerator.remainingSlots(after: start, interval: interval, end: start + .milliseconds(50)) == 0)
        #expect(LoadGenerator.remainingSlots(after: start + .seconds(1), interval: interval, end: start) == 0)
    }
}
