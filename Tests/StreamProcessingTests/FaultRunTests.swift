import Events
import Features
import Foundation
import Kafka
import LoadGeneration
import Postgres
import Redis
import StackTestSupport
import SyntheticData
import Testing

/// No loss, no double count, under faults: events with unique ids posted through the real gateway binary
/// while the processor binary is SIGKILLed and restarted, a second instance joins and leaves (rebalance),
/// and Redis (persistent, as in production) is restarted. Then every event the gateway accepted must be in
/// Kafka once, in PostgreSQL once, and Redis must equal a clean single pass over the same topics.
///
/// `FAULT_EVENTS` (default 50 000) sets the size; `scripts/fault-run.sh` runs it with 1 000 000 and prints
/// the figures for docs/reliability.md.
@Suite("Fault run through the gateway and processor binaries", .serialized)
struct FaultRunTests {
    struct Figures: CustomStringConvertible {
        var sent = 0, accepted = 0, rejected = 0, unavailable = 0, requests = 0, non2xxRequests = 0
        var kills = 0, rebalances = 0, redisRestarts = 0
        /// The processor instance left running after the faults.
        var survivor: pid_t?
        var description: String {
            "events sent \(sent) (some repeated on purpose), accepted or answered as duplicates (2xx) \(accepted), rejected (4xx) \(rejected), 503 answers \(unavailable) (retried with the same event_id), "
                + "requests \(requests) (\(non2xxRequests) non-2xx), SIGKILLs \(kills), rebalances \(rebalances), Redis restarts \(redisRestarts)"
        }
    }

    @Test("SIGKILLs, a rebalance and a Redis restart during ingest: every accepted event once in Kafka and PostgreSQL; Redis equals a clean pass")
    func noLossNoDoubleCount() async throws {
        let total = Int(ProcessInfo.processInfo.environment["FAULT_EVENTS"] ?? "") ?? 50_000
        let redisServer = try await offThePool { try PrivateRedis(persistent: true) }
        var fixture = try await ProcessorFixture(redis: redisServer.configuration, partitions: 3)
        fixture.configuration.features.keyPrefix = fixture.schema + ":v1"
        let redis = RedisClient(configuration: redisServer.configuration)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let catalog = SyntheticEvents.catalog(movies: 300, polls: 60, now: now)
        // The catalog first, applied, as the trainer's bootstrap makes it known in production: which genres an
        // interaction counts for depends on the catalog when it is applied.
        _ = try await fixture.runUntilCommitted(try await fixture.produce(catalog))
        let events = SyntheticEvents.interactions(count: total, users: 5000, movies: 300, polls: 60, now: now, span: 86_400_000, seed: 77)
        // The generator repeats some events on purpose (a producer's retries): those are one event each.
        let distinctSent = Set(events.map(\.eventID)).count

        // The gateway binary on the fixture's topics.
        let gatewayPort = TestStack.freePort()
        let key = "fault-key-\(UUID().uuidString)"
        let gatewayEnvironment = TestStack.gatewayEnvironment(port: gatewayPort, apiKey: key, movieTopic: fixture.topics.movie, pollTopic: fixture.topics.poll)
        let logDirectory = NSTemporaryDirectory() + fixture.schema
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logDirectory) }
        let gateway = try TestStack.spawnInBackground([TestStack.executable("ingest-gateway")], environment: gatewayEnvironment, outputPath: logDirectory + "/gateway.log")
        defer { kill(gateway, SIGKILL) }
        var processorEnvironment = try StreamProcessorTests.environment(fixture)
        processorEnvironment["STREAMREC_LOG_LEVEL"] = "warning"
        // The private, persistent Redis (the one restarted below), not the shared test one.
        processorEnvironment["STREAMREC_REDIS_HOST"] = "127.0.0.1"
        processorEnvironment["STREAMREC_REDIS_PORT"] = String(redisServer.port)
        let baseEnvironment = processorEnvironment
        let startProcessor: @Sendable (String) throws -> pid_t = { name in
            var environment = baseEnvironment
            environment["STREAMREC_HTTP_PORT"] = String(TestStack.freePort())
            return try TestStack.spawnInBackground([TestStack.executable("stream-processor")], environment: environment, outputPath: logDirectory + "/\(name).log")
        }

        let started = ContinuousClock.now
        let figures = try await withThrowingTaskGroup(of: Figures.self) { tasks in
            // Ingest: batches of 100, each event retried with its own id until the gateway accepts or rejects it.
            tasks.addTask { try await Self.ingest(events, port: gatewayPort, apiKey: key) }
            // Faults, while the ingest runs.
            tasks.addTask {
                var figures = Figures()
                var random = SplitMix(UInt64(now))
                var processor = try startProcessor("processor-0")
                for round in 1...5 {
                    try await Task.sleep(for: .milliseconds(1500 + random.next(2000)))
                    kill(processor, SIGKILL)
                    _ = await TestStack.waitForExit(processor, timeout: .seconds(10))
                    figures.kills += 1
                    processor = try startProcessor("processor-\(round)")
                    if round == 2 {
                        // A second instance joins the group, takes partitions, then leaves gracefully.
                        let second = try startProcessor("second")
                        try await Task.sleep(for: .seconds(4))
                        kill(second, SIGTERM)
                        _ = await TestStack.waitForExit(second, timeout: .seconds(30))
                        figures.rebalances += 1
                    }
                    if round == 3 {
                        try redisServer.restart()
                        figures.redisRestarts += 1
                    }
                }
                // The last instance stays: it finishes the topics, then stops gracefully below.
                return Figures(kills: figures.kills, rebalances: figures.rebalances, redisRestarts: figures.redisRestarts, survivor: processor)
            }
            var combined = Figures()
            for try await part in tasks {
                combined.add(part)
                combined.kills += part.kills
                combined.rebalances += part.rebalances
                combined.redisRestarts += part.redisRestarts
                if let survivor = part.survivor { combined.survivor = survivor }
            }
            return combined
        }
        let ingestSeconds = Double((ContinuousClock.now - started).components.seconds)

        // What the topics hold (read back from the start), then everything applied and committed by the
        // surviving instance, which then stops cleanly.
        let (ids, ends) = try await Self.audit(fixture)
        let caughtUp = try await fixture.waitForCommitted(ends, timeout: .seconds(Double(max(120, total / 1000))))
        if let survivor = figures.survivor {
            kill(survivor, SIGTERM)
            #expect(await TestStack.waitForExit(survivor, timeout: .seconds(30)) == 0, "the last processor exits 0 on SIGTERM")
        }
        #expect(caughtUp, "the processor did not commit the topics' end offsets")
        // The instances' logs go with the run directory: what they said is shown while it is still there.
        if !caughtUp { Self.printLogTails(logDirectory) }
        print("fault run: \(figures); ingest \(ingestSeconds) s")
        #expect(figures.kills == 5 && figures.rebalances == 1 && figures.redisRestarts == 1)
        #expect(figures.accepted == total && figures.rejected == 0)

        // Kafka: every accepted event once, by event_id.
        let duplicatesInKafka = ids.count - Set(ids).count
        let missingInKafka = Set(events.map(\.eventID)).subtracting(ids).count
        // PostgreSQL: every event once.
        let postgres = PostgresClient(configuration: try TestStack.postgresConfiguration())
        let rows = try await postgres.query("SELECT count(*), count(DISTINCT event_id) FROM \(identifier: fixture.schema).interactions")
        let (stored, distinct) = (try rows[0].decode(0, as: Int.self), try rows[0].decode(1, as: Int.self))
        await postgres.shutdown()
        print("fault run: \(distinctSent) distinct events; Kafka \(ids.count) records (\(missingInKafka) missing, \(duplicatesInKafka) duplicated); PostgreSQL \(stored) rows (\(distinct) distinct, \(distinctSent - distinct) lost, \(stored - distinct) double)")
        #expect(missingInKafka == 0 && duplicatesInKafka == 0)
        #expect(stored == distinctSent && distinct == distinctSent)

        // Redis: equal to a clean single pass over the same topics (another group, prefix and schema).
        let clean = try await fixture.secondPass(catalog: catalog, redis: redisServer.configuration)
        _ = try await clean.runUntilCommitted(ends, timeout: .seconds(Double(max(180, total / 500))))
        let expected = try await clean.redisSnapshot(redis)
        let actual = try await fixture.redisSnapshot(redis)
        let differing = Set(expected.keys).union(actual.keys).filter { expected[$0] != actual[$0] }
        print("fault run: Redis \(actual.count) keys, \(differing.count) differ from a clean pass")
        for key in differing.sorted().prefix(4) {
            print("fault run: differs \(key): clean \(expected[key]?.prefix(300) ?? "absent") | fault run \(actual[key]?.prefix(300) ?? "absent")")
        }
        let kinds = Dictionary(grouping: differing) { $0.split(separator: ":").dropFirst(1).first.map(String.init) ?? $0 }.mapValues(\.count)
        print("fault run: differing keys by kind: \(kinds.sorted { $0.value > $1.value }.prefix(8))")
        #expect(!expected.isEmpty && differing.isEmpty, "differing keys, e.g. \(differing.sorted().prefix(5))")

        try await clean.cleanUp(redis)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
        try redisServer.remove()
    }

    /// Posts `events` to a gateway binary listening on `port` (waiting for its `/readyz` first) in NDJSON
    /// batches of 100; an event answered `unavailable` is posted again with its own id until the gateway
    /// accepts or rejects it, so every event ends up in Kafka (a non-2xx request is counted and retried).
    /// `pause` spaces the batches out (a paced load). Also used by ``SeveralInstancesTests``.
    static func ingest(_ events: [Event], port gatewayPort: Int, apiKey key: String, pause: Duration = .zero) async throws -> Figures {
        var figures = Figures()
        for _ in 0..<100 {  // until the gateway listens
            if (try? await HTTPConnection.connect(host: "127.0.0.1", port: gatewayPort).session { try await $0(.GET, "/readyz", [], nil) })?.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let poster = try await GatewayPoster.connect(host: "127.0.0.1", port: gatewayPort, apiKey: key, group: .singletonMultiThreadedEventLoopGroup)
        try await poster.session { post in
            var pending = events[...]
            figures.sent = events.count
            while !pending.isEmpty {
                let batch = Array(pending.prefix(100))
                let (status, body) = try await post(batch.map(GatewayPoster.line).joined(separator: "\n"))
                figures.requests += 1
                guard status == 200, case .object(let members)? = try? JSONParser.parse(Array(body.utf8)),
                    case .array(let results)? = members.first(where: { $0.key == "results" })?.value
                else {
                    figures.non2xxRequests += 1
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                var retry: [Event] = []
                for (event, result) in zip(batch, results) {
                    guard case .object(let fields) = result, case .string(let outcome)? = fields.first(where: { $0.key == "status" })?.value else { continue }
                    switch outcome {
                    case "accepted", "duplicate": figures.accepted += 1
                    case "rejected": figures.rejected += 1
                    default:
                        figures.unavailable += 1
                        retry.append(event)
                    }
                }
                pending = ArraySlice(retry + pending.dropFirst(batch.count))
                if pause > .zero { try await Task.sleep(for: pause) }
            }
        }
        return figures
    }

    /// The last lines of each log in `directory` (the gateway's and each processor instance's), for a failed run.
    static func printLogTails(_ directory: String, lines: Int = 40) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        for name in names {
            let text = (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
            let tail = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines)
            print("fault run: \(name), last \(tail.count) lines:\n" + tail.joined(separator: "\n"))
        }
    }

    /// Every event_id on the fixture's topics (catalog events excluded) and each partition's end offset,
    /// read from the start until every partition is read up to the high watermark its fetches report
    /// (a latest-offset query is not reliable on the local broker).
    static func audit(_ fixture: ProcessorFixture) async throws -> (ids: [String], ends: [KafkaTopicPartition: Int64]) {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: fixture.configuration.consumer.bootstrapServers, groupID: TestStack.uniqueName("audit"), autoOffsetReset: .earliest
        ))
        try consumer.subscribe(topics: fixture.topics.all)
        let partitions = fixture.topics.all.flatMap { topic in (0..<3).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) } }
        var ids: [String] = []
        var next: [KafkaTopicPartition: Int64] = [:]
        for try await batch in consumer.batches {
            for record in batch {
                next[KafkaTopicPartition(topic: record.topic, partition: record.partition)] = record.offset + 1
                guard case .object(let members)? = try? JSONParser.parse(record.value),
                    case .string(let type)? = members.first(where: { $0.key == "type" })?.value, !type.hasSuffix(".added"), !type.hasSuffix(".created"),
                    case .string(let id)? = members.first(where: { $0.key == "event_id" })?.value
                else { continue }
                ids.append(id)
            }
            let high = try consumer.fetchedHighWatermarks(for: partitions)
            if high.count == partitions.count, partitions.allSatisfy({ (next[$0] ?? 0) >= high[$0]! }) { break }
        }
        await consumer.close()
        return (ids, next)
    }
}

extension FaultRunTests.Figures {
    init(kills: Int, rebalances: Int, redisRestarts: Int, survivor: pid_t) {
        self.init()
        self.kills = kills
        self.rebalances = rebalances
        self.redisRestarts = redisRestarts
        self.survivor = survivor
    }
}
