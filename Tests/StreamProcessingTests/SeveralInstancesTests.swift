import Events
import Foundation
import Kafka
import LoadGeneration
import Postgres
import Redis
import StackTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several instances of each service on one stack (issue 22): 3 stream processors in one consumer group
/// (one SIGKILLed and restarted in the middle of the load), 2 ingest gateways and 2 inference APIs, all
/// the real binaries, against the one Redis, PostgreSQL and broker of the test stack. The events are
/// posted over HTTP to both gateways and recommendations asked of both APIs while they flow; afterwards
/// Redis (key by key) and the training store (row count and content) must equal a clean single-instance
/// pass over the same topics, and every request must have been answered 2xx.
///
/// `SEVERAL_INSTANCES_EVENTS` (default 6 000) sets the size.
@Suite("Several instances of each service on one stack", .serialized)
struct SeveralInstancesTests {
    @Test("3 processors (one SIGKILLed and restarted mid-load), 2 gateways, 2 APIs: every POST and GET answered 2xx; Redis and the training store equal a clean single-instance pass")
    func severalInstancesEqualACleanSingleInstancePass() async throws {
        let total = Int(ProcessInfo.processInfo.environment["SEVERAL_INSTANCES_EVENTS"] ?? "") ?? 6000
        let started = ContinuousClock.now
        let fixture = try await ProcessorFixture(partitions: 3)
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let catalog = SyntheticEvents.catalog(movies: 300, polls: 60, now: now)
        // The catalog first, applied, as the trainer's bootstrap does in production (genre attribution
        // depends on the catalog known when an interaction is applied).
        let catalogEnds = try await fixture.produce(catalog)
        _ = try await fixture.runUntilCommitted(catalogEnds)
        let events = SyntheticEvents.interactions(count: total, users: 2000, movies: 300, polls: 60, now: now, span: 86_400_000, seed: 22)
        let distinctSent = Set(events.map(\.eventID)).count

        let logDirectory = NSTemporaryDirectory() + fixture.schema
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let instances = Instances(logDirectory: logDirectory)
        defer {
            instances.killAll()
            try? FileManager.default.removeItem(atPath: logDirectory)
        }

        // 2 gateways on the fixture's topics, one producer key.
        let key = "several-key-\(UUID().uuidString)"
        let gatewayPorts = [TestStack.freePort(), TestStack.freePort()]
        for (index, port) in gatewayPorts.enumerated() {
            try await instances.start("gateway-\(index)", "ingest-gateway", TestStack.gatewayEnvironment(port: port, apiKey: key, movieTopic: fixture.topics.movie, pollTopic: fixture.topics.poll))
        }
        // 2 APIs on the fixture's key prefix and schema (no model: recommendations come from Redis's popular
        // windows and each user's seen-set, which the processors write while the requests run).
        let apiPorts = [TestStack.freePort(), TestStack.freePort()]
        for (index, port) in apiPorts.enumerated() {
            var environment = TestStack.environment
            environment["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
            environment["STREAMREC_LOG_LEVEL"] = "warning"
            environment["STREAMREC_HTTP_PORT"] = String(port)
            environment["STREAMREC_FEATURES_KEY_PREFIX"] = fixture.configuration.features.keyPrefix
            environment["STREAMREC_POSTGRES_SCHEMA"] = fixture.schema
            environment["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = TestStack.repositoryRoot + "/configs/migrations"
            environment["STREAMREC_TOPICS_MODEL_UPDATED"] = fixture.schema + "-model-updated"
            environment["STREAMREC_TRAINER_ARTIFACTS_DIR"] = logDirectory + "/artifacts"
            try await instances.start("api-\(index)", "inference-api", environment)
        }
        // 3 processors in one group, each with a static group.instance.id as the deploy manifests give
        // (the pod's name): the restart below is a container restarted in its pod.
        let processorEnvironments = try (0..<3).map { index in
            var environment = try StreamProcessorTests.environment(fixture)  // info logs: the assignments are read from them
            environment["STREAMREC_KAFKA_GROUP_INSTANCE_ID"] = "processor-\(index)"
            return environment
        }
        for (index, environment) in processorEnvironments.enumerated() {
            try await instances.start("processor-\(index)", "stream-processor", environment)
        }
        func applied(_ processor: Int) async -> Double {
            let port = Int(processorEnvironments[processor]["STREAMREC_HTTP_PORT"]!)!
            guard let body = try? await HTTPConnection.connect(host: "127.0.0.1", port: port).session({ try await $0(.GET, "/metrics", [], nil) }).body else { return 0 }
            return PrometheusSamples(body).sum("streamrec_processor_events_total", matching: ["outcome": "applied"]) ?? 0
        }

        // Ready: gateways and APIs answer /readyz 200 (an API without a model says "degraded" with 200),
        // every processor was assigned partitions (the local broker takes up to ~20 s per group join).
        for port in gatewayPorts + apiPorts {
            let ready = try await Self.poll(timeout: .seconds(60)) {
                (try? await HTTPConnection.connect(host: "127.0.0.1", port: port).session { try await $0(.GET, "/readyz", [], nil) })?.status == 200
            }
            #expect(ready, "port \(port) not ready within 60 s; logs: \(instances.logTails())")
        }
        let joined = try await Self.poll(timeout: .seconds(90)) { (0..<3).allSatisfy { instances.log("processor-\($0)").contains(Self.assigned) } }
        try #require(joined, "not every processor was assigned partitions within 90 s: \(instances.logTails())")
        let groupJoined = ContinuousClock.now - started

        // The recommendation requests, alternating between the two APIs, for as long as events are posted.
        let requests = Task { await Self.askForRecommendations(apiPorts: apiPorts, users: 2000) }
        // The events in two parts, each spread over both gateways. While the first is posted, one processor
        // is SIGKILLed in the middle of its work and started again at once with the same instance id; the
        // second part once the restarted instance holds partitions again, so it has records of its own.
        let firstEnd = total * 7 / 10
        async let firstPart = Self.post(events[..<firstEnd], gatewayPorts: gatewayPorts, apiKey: key)
        // Every processor applies its share first (each holds partitions of the 3-member group).
        let allApplying = try await Self.poll(timeout: .seconds(60)) {
            var all = true
            for processor in 0..<3 where await applied(processor) == 0 { all = false }
            return all
        }
        #expect(allApplying, "not every processor applied events: \(instances.logTails())")
        let partitions = fixture.topics.all.flatMap { topic in (0..<3).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) } }
        let appliedBeforeKill = await applied(2)
        instances.kill("processor-2", SIGKILL)
        let killedStatus = await instances.waitForExit("processor-2", timeout: .seconds(10))
        let killedAt = ContinuousClock.now
        #expect(killedStatus == 128 + SIGKILL)
        let committedAtKill = try await fixture.committedRecords(partitions)
        try await instances.start("processor-2-restarted", "stream-processor", processorEnvironments[2])
        var figures = try await firstPart
        let firstPartPostedAfterKill = ContinuousClock.now - killedAt  // the kill landed while events were posted
        let rejoined = try await Self.poll(timeout: .seconds(90)) { instances.log("processor-2-restarted").contains(Self.assigned) }
        let rejoinedAfter = ContinuousClock.now - killedAt
        #expect(rejoined, "the restarted processor was not assigned partitions within 90 s: \(instances.logTails())")
        figures.add(try await Self.post(events[firstEnd...], gatewayPorts: gatewayPorts, apiKey: key))
        requests.cancel()
        let answers = await requests.value
        let posted = ContinuousClock.now

        // Everything on the topics applied and committed by the group.
        let (ids, ends) = try await FaultRunTests.audit(fixture)
        let caughtUp = try await fixture.waitForCommitted(ends, timeout: .seconds(120))
        let drained = ContinuousClock.now - posted
        #expect(caughtUp, "the group did not commit the topics' end offsets: \(instances.logTails())")
        let recordsOnTopics = ends.values.reduce(0, +)
        let catalogRecords = catalogEnds.values.reduce(0, +)
        #expect(committedAtKill > catalogRecords && committedAtKill < recordsOnTopics, "the kill must land mid-run: \(committedAtKill) of \(recordsOnTopics) records committed (\(catalogRecords) of the catalog)")
        var appliedBy: [String: Double] = [:]
        for processor in 0..<3 { appliedBy[processor == 2 ? "processor-2-restarted" : "processor-\(processor)"] = await applied(processor) }
        #expect((appliedBy["processor-2-restarted"] ?? 0) > 0, "the restarted processor applied nothing: \(appliedBy)")

        // Both APIs read the same Redis: the same poll tallies from each.
        var differingTallies: [String] = []
        for poll in (0..<10).map({ "p\($0)" }) {
            var bodies: [String] = []
            for port in apiPorts {
                let response = try await HTTPConnection.connect(host: "127.0.0.1", port: port).session { try await $0(.GET, "/v1/polls/\(poll)/results", [], nil) }
                #expect(response.status == 200, "\(poll): \(response.status) \(response.body)")
                bodies.append(response.body)
            }
            if Set(bodies).count != 1 { differingTallies.append("\(poll): \(bodies)") }
        }
        #expect(differingTallies.isEmpty, "the APIs answer differently: \(differingTallies)")

        // Every instance stops gracefully (SIGTERM → exit 0).
        let running = ["gateway-0", "gateway-1", "api-0", "api-1", "processor-0", "processor-1", "processor-2-restarted"]
        for name in running { instances.kill(name, SIGTERM) }
        for name in running {
            let status = await instances.waitForExit(name, timeout: .seconds(30))
            #expect(status == 0, "\(name) exited \(String(describing: status)) on SIGTERM; log: \(instances.log(name).suffix(1500))")
        }

        print("several instances: events posted \(figures.sent) in \(figures.requests) batch requests (\(figures.non2xxRequests) non-2xx), accepted or answered as duplicates \(figures.accepted), rejected \(figures.rejected), unavailable \(figures.unavailable)")
        print("several instances: \(answers)")
        print("several instances: group of 3 joined \(groupJoined) after the start; SIGKILL after it applied \(appliedBeforeKill) events, \(committedAtKill) of \(recordsOnTopics) committed records; first part posted until \(firstPartPostedAfterKill) after the kill; restarted member assigned \(rejoinedAfter) after the kill; applied per live instance \(appliedBy.sorted { $0.key < $1.key }); drained \(drained) after the last post")
        #expect(figures.sent == total && figures.accepted == total && figures.rejected == 0 && figures.unavailable == 0 && figures.non2xxRequests == 0, "\(figures)")
        #expect(answers.failures.isEmpty && answers.answered.allSatisfy { $0 > 0 }, "\(answers)")

        // Kafka: every event there; a repeated event_id twice at most when its copies went to two gateways
        // (each gateway deduplicates only what it saw itself).
        let missingInKafka = Set(events.map(\.eventID)).subtracting(ids).count
        let extraInKafka = ids.count - Set(ids).count
        #expect(missingInKafka == 0)
        #expect(extraInKafka <= total - distinctSent, "\(extraInKafka) extra records for \(total - distinctSent) repeated events")

        // The clean single-instance pass: the same topics, another group, key prefix and schema.
        let clean = try await fixture.secondPass(catalog: catalog)
        _ = try await clean.runUntilCommitted(ends, timeout: .seconds(180))

        // PostgreSQL: every event once, and the same rows as the clean pass.
        let postgres = PostgresClient(configuration: try TestStack.postgresConfiguration())
        let counts = try await postgres.query("SELECT count(*), count(DISTINCT event_id) FROM \(identifier: fixture.schema).interactions")
        let (stored, distinct) = (try counts[0].decode(0, as: Int.self), try counts[0].decode(1, as: Int.self))
        let cleanStored = try await postgres.query("SELECT count(*) FROM \(identifier: clean.schema).interactions")[0].decode(0, as: Int.self)
        let onlyHere = try await postgres.query("""
            SELECT count(*) FROM (SELECT event_id, domain, event_type, user_id, item_id, value, option_id, occurred_at FROM \(identifier: fixture.schema).interactions
            EXCEPT SELECT event_id, domain, event_type, user_id, item_id, value, option_id, occurred_at FROM \(identifier: clean.schema).interactions) AS rows
            """)[0].decode(0, as: Int.self)
        let onlyClean = try await postgres.query("""
            SELECT count(*) FROM (SELECT event_id, domain, event_type, user_id, item_id, value, option_id, occurred_at FROM \(identifier: clean.schema).interactions
            EXCEPT SELECT event_id, domain, event_type, user_id, item_id, value, option_id, occurred_at FROM \(identifier: fixture.schema).interactions) AS rows
            """)[0].decode(0, as: Int.self)
        await postgres.shutdown()
        print("several instances: \(distinctSent) distinct events; Kafka \(ids.count) records (\(missingInKafka) missing, \(extraInKafka) repeats published twice); PostgreSQL \(stored) rows (\(distinct) distinct), clean pass \(cleanStored), rows differing \(onlyHere) + \(onlyClean)")
        #expect(stored == distinctSent && distinct == distinctSent && cleanStored == distinctSent)
        #expect(onlyHere == 0 && onlyClean == 0)

        // Redis: key by key.
        let expected = try await clean.redisSnapshot(redis)
        let actual = try await fixture.redisSnapshot(redis)
        let differing = Set(expected.keys).union(actual.keys).filter { expected[$0] != actual[$0] }.sorted()
        print("several instances: Redis \(actual.count) keys, \(differing.count) differ from the clean pass; whole test \(ContinuousClock.now - started)")
        #expect(expected.count > 1000 && differing.isEmpty, "\(differing.count) keys differ, e.g. \(differing.prefix(4).map { "\($0): clean \(expected[$0]?.prefix(200) ?? "absent") vs \(actual[$0]?.prefix(200) ?? "absent")" })")

        try await clean.cleanUp(redis)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    /// Posts `part` spread over the gateways (alternate batches of 100), each gateway's share at a pace
    /// (``FaultRunTests/ingest(_:port:apiKey:pause:)``); the counts of all of them.
    static func post(_ part: ArraySlice<Event>, gatewayPorts: [Int], apiKey: String) async throws -> FaultRunTests.Figures {
        let shares = gatewayPorts.indices.map { gateway in
            stride(from: part.startIndex, to: part.endIndex, by: 100).enumerated().filter { $0.offset % gatewayPorts.count == gateway }
                .flatMap { part[$0.element..<min(part.endIndex, $0.element + 100)] }
        }
        return try await withThrowingTaskGroup(of: FaultRunTests.Figures.self) { tasks in
            for (gateway, share) in shares.enumerated() {
                tasks.addTask { try await FaultRunTests.ingest(share, port: gatewayPorts[gateway], apiKey: apiKey, pause: .milliseconds(100)) }
            }
            var combined = FaultRunTests.Figures()
            for try await figures in tasks { combined.add(figures) }
            return combined
        }
    }

    /// What a processor logs when the group gives it partitions.
    static let assigned = "kafka partitions assigned"

    /// Checks `condition` every 100 ms until it holds or `timeout` passes; whether it held.
    static func poll(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// The answers of the APIs, per API, and every failed request (a non-2xx status or no answer).
    struct Answers: CustomStringConvertible {
        var answered: [Int]
        var failures: [String] = []
        var description: String { "recommendation requests answered 2xx per API \(answered), failed \(failures.count)\(failures.isEmpty ? "" : ": \(failures.prefix(5))")" }
    }

    /// Asks the APIs in turn, about 50 times a second, until cancelled: recommendations for movies and for
    /// polls of the users the events come from, and the popular list.
    static func askForRecommendations(apiPorts: [Int], users: Int) async -> Answers {
        var answers = Answers(answered: apiPorts.map { _ in 0 })
        var random = SplitMix(22)
        var request = 0
        while !Task.isCancelled {
            let api = request % apiPorts.count
            let user = "user-\(random.next(users))"
            let path =
                switch request % 4 {
                case 0, 1: "/v1/users/\(user)/recommendations?domain=movies&k=10"
                case 2: "/v1/users/\(user)/recommendations?domain=polls&k=10"
                default: "/v1/popular?domain=movies&k=10"
                }
            do {
                let response = try await HTTPConnection.connect(host: "127.0.0.1", port: apiPorts[api]).session { try await $0(.GET, path, [], nil) }
                if (200..<300).contains(response.status) {
                    answers.answered[api] += 1
                } else {
                    answers.failures.append("api-\(api) \(path): \(response.status) \(response.body.prefix(200))")
                }
            } catch {
                if Task.isCancelled { break }  // the load is over: not an answer the API failed to give
                answers.failures.append("api-\(api) \(path): \(error)")
            }
            request += 1
            try? await Task.sleep(for: .milliseconds(20))
        }
        return answers
    }

    /// The binaries a test started, by name: their pids and log files. Whatever still runs is killed at
    /// the end (by pid).
    final class Instances: Sendable {
        let logDirectory: String
        private let pids = Mutex<[String: pid_t]>([:])

        init(logDirectory: String) { self.logDirectory = logDirectory }

        func start(_ name: String, _ executable: String, _ environment: [String: String]) async throws {
            let path = logDirectory + "/\(name).log"
            let pid = try await offThePool { try TestStack.spawnInBackground([TestStack.executable(executable)], environment: environment, outputPath: path) }
            pids.withLock { $0[name] = pid }
        }

        func kill(_ name: String, _ signal: Int32) {
            if let pid = pids.withLock({ $0[name] }) { _ = Glibc.kill(pid, signal) }
        }

        /// Waits for the instance to exit (and forgets it); its exit code, or nil on timeout.
        func waitForExit(_ name: String, timeout: Duration) async -> Int32? {
            guard let pid = pids.withLock({ $0[name] }) else { return nil }
            let status = await TestStack.waitForExit(pid, timeout: timeout)
            if status != nil { pids.withLock { $0[name] = nil } }
            return status
        }

        func log(_ name: String) -> String { (try? String(contentsOfFile: logDirectory + "/\(name).log", encoding: .utf8)) ?? "" }

        /// The end of every instance's log.
        func logTails() -> String {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: logDirectory).filter { $0.hasSuffix(".log") }.sorted()) ?? []
            return names.map { "\n--- \($0): \(log(String($0.dropLast(4))).suffix(800))" }.joined()
        }

        func killAll() {
            for pid in pids.withLock({ Array($0.values) }) {
                _ = Glibc.kill(pid, SIGKILL)
                _ = waitpid(pid, nil, 0)
            }
        }
    }
}

extension FaultRunTests.Figures {
    /// Adds another poster's counts.
    mutating func add(_ other: Self) {
        sent += other.sent
        accepted += other.accepted
        rejected += other.rejected
        unavailable += other.unavailable
        requests += other.requests
        non2xxRequests += other.non2xxRequests
    }
}
