import Events
import Foundation
import Kafka
import LoadGeneration
import Redis
import StackTestSupport
import Testing

/// The processor with `redis.cluster = true` against a real Redis Cluster of three masters
/// (``PrivateRedisCluster``), beside the test stack's broker and PostgreSQL.
@Suite("Stream processor on a real 3-master Redis Cluster", .serialized)
struct StreamProcessorClusterTests {
    @Test("30k events applied on 3 masters while 2 000 slots move between them: the same Redis state, key by key, as a clean pass on one server; a replay by a second group changes nothing")
    func processorOnAClusterDuringAReshard() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let fixture = try await ProcessorFixture(redis: cluster.configuration(connections: 2))
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let catalog = SyntheticEvents.catalog(movies: 50, polls: 20, now: now)
        var ends = try await fixture.produce(catalog)
        _ = try await fixture.runUntilCommitted(ends)
        ends.merge(try await fixture.produce(SyntheticEvents.interactions(count: 30_000, now: now, seed: 13))) { max($0, $1) }

        // Slots move while the processor consumes: the reshard starts once it has committed its first
        // interactions (joining the group takes a few seconds).
        let running = try await fixture.start()
        let catalogRecords = Int64(catalog.count)
        let deadline = ContinuousClock.now + .seconds(60)
        var committedAtReshardStart = try await fixture.committedRecords(Array(ends.keys))
        while committedAtReshardStart < catalogRecords + 500, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            committedAtReshardStart = try await fixture.committedRecords(Array(ends.keys))
        }
        let source = cluster.masterPorts[0], target = cluster.masterPorts[2]
        let reshardTook = try await cluster.reshard(slots: 2000, from: source, to: target)
        let committedAtReshardEnd = try await fixture.committedRecords(Array(ends.keys))
        let reached = try await fixture.waitForCommitted(ends, timeout: .seconds(90))
        await running.stop()
        #expect(reached)
        let total = ends.values.reduce(0, +)
        print("processor on a cluster: 2000 slots moved in \(reshardTook); \(committedAtReshardStart) of \(total) records committed when it started, \(committedAtReshardEnd) when it ended")
        // The reshard must overlap the run, or this test proves nothing about it.
        #expect(committedAtReshardStart < total, "the processor had committed everything before the reshard started")
        let onCluster = try await fixture.redisSnapshot(redis)
        #expect(onCluster.count > 500)

        // A second group replays everything on the cluster: nothing changes.
        var replay = fixture
        replay.configuration.consumer.groupID += "-replay"
        _ = try await replay.runUntilCommitted(ends)
        let again = try await fixture.redisSnapshot(redis)
        #expect(Self.differing(again, onCluster).isEmpty, "after the replay: \(Self.differing(again, onCluster).prefix(5))")

        // A clean pass on one server (the test stack's Redis) ends in the same state.
        let single = RedisClient(configuration: try TestStack.redisConfiguration())
        let clean = try await fixture.secondPass(catalog: catalog, redis: try TestStack.redisConfiguration())
        _ = try await clean.runUntilCommitted(ends)
        let expected = try await clean.redisSnapshot(single)
        let differing = Self.differing(onCluster, expected)
        #expect(differing.isEmpty, "\(differing.count) keys differ (cluster vs one server): \(differing.prefix(5).map { "\($0): \(onCluster[$0]?.prefix(200) ?? "absent") vs \(expected[$0]?.prefix(200) ?? "absent")" })")

        try await clean.cleanUp(single)
        try await fixture.cleanUp(redis)
        await single.shutdown()
        await redis.shutdown()
    }

    @Test("the real processor binary on a 3-master cluster, SIGKILLed twice at random points and restarted: the same Redis state, key by key, as a clean pass on one server; the real inference-api binary on the cluster answers as one on that server")
    func killedOnAClusterEqualsACleanPassOnOneServer() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let fixture = try await ProcessorFixture(redis: cluster.configuration(connections: 2))
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let catalog = SyntheticEvents.catalog(movies: 300, polls: 60, now: now)
        var ends = try await fixture.produce(catalog)
        _ = try await fixture.runUntilCommitted(ends)
        let events = SyntheticEvents.interactions(count: 60_000, users: 2000, movies: 300, polls: 60, now: now, seed: 31)
        ends.merge(try await fixture.produce(events)) { max($0, $1) }

        var environment = try StreamProcessorTests.environment(fixture)
        environment["STREAMREC_REDIS_HOST"] = "127.0.0.1"
        environment["STREAMREC_REDIS_PORT"] = String(cluster.basePort)  // a seed node
        environment["STREAMREC_REDIS_CLUSTER"] = "true"
        let log = NSTemporaryDirectory() + "\(fixture.schema).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        var random = SplitMix(UInt64(now))
        let total = ends.values.reduce(0, +)
        let run = try await fixture.runBinaryKilled(2, environment: environment, ends: ends, random: &random, log: log)
        #expect(run.served == true, "the last run served HTTP before SIGTERM")
        #expect(run.exitStatus == 0, "graceful exit; log: \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1500))")
        #expect(run.finished, "log: \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1500))")
        // The kills must land mid-run, or this test proves nothing.
        #expect(run.committedAtKills.contains { $0 > Int64(catalog.count) && $0 < total }, "committed at the kills: \(run.committedAtKills) of \(total)")
        print("processor binary on a cluster: committed at the SIGKILLs \(run.committedAtKills) of \(total) records")

        let single = RedisClient(configuration: try TestStack.redisConfiguration())
        let clean = try await fixture.secondPass(catalog: catalog, redis: try TestStack.redisConfiguration())
        _ = try await clean.runUntilCommitted(ends, timeout: .seconds(180))
        let onCluster = try await fixture.redisSnapshot(redis)
        let expected = try await clean.redisSnapshot(single)
        #expect(onCluster.count > 1000)
        let differing = Self.differing(onCluster, expected)
        #expect(differing.isEmpty, "\(differing.count) keys differ (killed on a cluster vs clean on one server): \(differing.prefix(5).map { "\($0): \(onCluster[$0]?.prefix(200) ?? "absent") vs \(expected[$0]?.prefix(200) ?? "absent")" })")
        #expect(try await fixture.storedInteractions() == (try await clean.storedInteractions()))

        // The API binary on the cluster, and one on the single server reading the clean pass: the same answers.
        let logDirectory = NSTemporaryDirectory() + fixture.schema + "-apis"
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let apis = SeveralInstancesTests.Instances(logDirectory: logDirectory)
        defer {
            apis.killAll()
            try? FileManager.default.removeItem(atPath: logDirectory)
        }
        let apiPorts = [TestStack.freePort(), TestStack.freePort()]
        for (index, pass) in [fixture, clean].enumerated() {
            var api = TestStack.environment
            api["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
            api["STREAMREC_LOG_LEVEL"] = "warning"
            api["STREAMREC_HTTP_PORT"] = String(apiPorts[index])
            api["STREAMREC_FEATURES_KEY_PREFIX"] = pass.configuration.features.keyPrefix
            api["STREAMREC_POSTGRES_SCHEMA"] = pass.schema
            api["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = TestStack.repositoryRoot + "/configs/migrations"
            api["STREAMREC_TOPICS_MODEL_UPDATED"] = pass.schema + "-model-updated"
            api["STREAMREC_TRAINER_ARTIFACTS_DIR"] = logDirectory + "/artifacts-\(index)"
            if index == 0 {
                api["STREAMREC_REDIS_HOST"] = "127.0.0.1"
                api["STREAMREC_REDIS_PORT"] = String(cluster.basePort)
                api["STREAMREC_REDIS_CLUSTER"] = "true"
            }
            try await apis.start("api-\(index)", "inference-api", api)
        }
        for port in apiPorts {
            let ready = try await SeveralInstancesTests.poll(timeout: .seconds(60)) {
                (try? await HTTPConnection.connect(host: "127.0.0.1", port: port).session { try await $0(.GET, "/readyz", [], nil) })?.status == 200
            }
            try #require(ready, "port \(port) not ready within 60 s; logs: \(apis.logTails())")
        }
        // Recommendations (no model: the popular windows less each user's seen-set), the popular lists and
        // poll results. Compared by their items (an answer may carry per-answer ids or times).
        let users = Array(Set(events.prefix(400).map(\.userID))).sorted().prefix(25)
        let paths = users.flatMap { ["/v1/users/\($0)/recommendations?domain=movies&k=10", "/v1/users/\($0)/recommendations?domain=polls&k=5"] }
            + ["/v1/popular?domain=movies&k=20", "/v1/popular?domain=movies&k=20&window=1h", "/v1/popular?domain=polls&k=10", "/v1/trending?domain=movies&k=10"]
            + (0..<10).map { "/v1/polls/p\($0)/results" }
        var compared = 0, withItems = 0, withoutItems: [String] = []
        var differingAnswers: [String] = []
        for path in paths {
            var answers: [String] = []
            for port in apiPorts {
                let response = try await HTTPConnection.connect(host: "127.0.0.1", port: port).session { try await $0(.GET, path, [], nil) }
                #expect(response.status == 200, "\(path) on \(port): \(response.status) \(response.body.prefix(300))")
                answers.append(Self.comparable(response.body))
            }
            compared += 1
            if answers[0].contains("\"item_id\"") || answers[0].contains("\"votes\"") { withItems += 1 } else { withoutItems.append("\(path): \(answers[0].prefix(120))") }
            if answers[0] != answers[1] { differingAnswers.append("\(path): \(answers[0].prefix(200)) vs \(answers[1].prefix(200))") }
        }
        // Most answers name items (a user may have seen every poll): equal empty answers would prove little.
        #expect(withItems >= paths.count * 3 / 4, "\(withItems) of \(paths.count) answers name items; without: \(withoutItems.prefix(6))")
        print("inference-api on a cluster: \(compared) answers compared, \(withItems) naming items, \(differingAnswers.count) differing")
        #expect(compared == paths.count && differingAnswers.isEmpty, "\(differingAnswers.count) of \(paths.count) answers differ: \(differingAnswers.prefix(3))")
        for name in ["api-0", "api-1"] {
            apis.kill(name, SIGTERM)
            #expect(await apis.waitForExit(name, timeout: .seconds(30)) == 0, "\(name) on SIGTERM; log: \(apis.log(name).suffix(1000))")
        }

        try await clean.cleanUp(single)
        try await fixture.cleanUp(redis)
        await single.shutdown()
        await redis.shutdown()
    }

    /// An answer's items (ids in order, with their scores or counts), or the whole body if it has none.
    static func comparable(_ body: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return body }
        let kept = object.filter { ["items", "options", "total_voters"].contains($0.key) }
        guard !kept.isEmpty, let data = try? JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]) else { return body }
        return String(decoding: data, as: UTF8.self)
    }

    static func differing(_ left: [String: String], _ right: [String: String]) -> [String] {
        Set(left.keys).union(right.keys).filter { left[$0] != right[$0] }.sorted()
    }
}
