import Events
import Features
import Foundation
@testable import Kafka
import LoadGeneration
import Postgres
import Redis
import StackTestSupport
@testable import StreamProcessing
import Training
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Stream processor against the real broker, Redis and PostgreSQL", .serialized)
struct StreamProcessorTests {
    @Test("The same 10k events applied twice (a second group replays the whole topic): identical Redis and Postgres")
    func replayGivesIdenticalState() async throws {
        let fixture = try await ProcessorFixture()
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let interactions = SyntheticEvents.interactions(count: 10_000, now: now, seed: 11)
        var ends = try await fixture.produce(SyntheticEvents.catalog(movies: 50, polls: 20, now: now))
        // Catalog first, so genres are known when interactions arrive (as in production, where the
        // catalog precedes interactions on its items).
        _ = try await fixture.runUntilCommitted(ends)
        ends.merge(try await fixture.produce(interactions)) { max($0, $1) }
        _ = try await fixture.runUntilCommitted(ends)
        let first = try await fixture.redisSnapshot(redis)
        let firstRows = try await fixture.storedInteractions()
        #expect(firstRows == Set(interactions.map(\.eventID)).count)
        #expect(first.keys.contains { $0.hasPrefix(":{pop:movie}:all:") })
        #expect(!first.keys.contains { $0.contains(":group:") })  // popularity per item only
        // The catalog's genres were known when the interactions were applied: users' genre affinities.
        #expect(first.contains { $0.key.hasPrefix(":{u:") && $0.value.contains("a:Drama=") })
        #expect(first.keys.contains { $0.hasPrefix(":{pop:poll}:tally:p1") })

        var replay = fixture
        replay.configuration.consumer.groupID += "-replay"
        _ = try await replay.runUntilCommitted(ends)
        let again = try await fixture.redisSnapshot(redis)
        let differing = Set(first.keys).union(again.keys).filter { first[$0] != again[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) keys differ after the replay: \(differing.prefix(5).map { "\($0): \(first[$0]?.prefix(200) ?? "absent") vs \(again[$0]?.prefix(200) ?? "absent")" })")
        #expect(try await fixture.storedInteractions() == firstRows)

        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("Records that cannot be decoded (garbage, wrong schema version, wrong topic, oversized) go to the dead-letter topic with the reason; the rest is applied")
    func poisonRecordsAreDeadLettered() async throws {
        let fixture = try await ProcessorFixture(partitions: 1)
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let good = SyntheticEvents.interactions(count: 200, now: now, seed: 3).filter { $0.domain == .movie }
        let like = makeLike(at: now)
        var messages: [KafkaProducerMessage] = []
        messages.append(KafkaProducerMessage(topic: fixture.topics.movie, key: "u", value: "{not json"))
        messages.append(KafkaProducerMessage(
            topic: fixture.topics.movie, key: Array("u".utf8), value: like.canonicalJSON(), headers: [KafkaHeader(name: EventHeaders.schemaVersion, value: "99")]
        ))
        // A poll event on the movie topic.
        let vote = Event(eventID: EventID.random(), type: .pollVote, userID: "u", subjectID: "p", occurredAt: like.occurredAt, payload: .vote(optionID: "a"))
        messages.append(KafkaProducerMessage(topic: fixture.topics.movie, key: Array("u".utf8), value: vote.canonicalJSON()))
        // 300 KiB written straight to the topic (the gateway caps events at 64 KiB): a valid event padded
        // with whitespace, so only its size is wrong.
        let oversized = like.canonicalJSON() + [UInt8](repeating: UInt8(ascii: " "), count: 300 * 1024)
        messages.append(KafkaProducerMessage(topic: fixture.topics.movie, key: Array("u".utf8), value: oversized))
        var ends = try await fixture.produce(messages)
        ends.merge(try await fixture.produce(good)) { max($0, $1) }
        _ = try await fixture.runUntilCommitted(ends)

        #expect(try await fixture.storedInteractions() == Set(good.map(\.eventID)).count)
        let letters = try await readAll(topic: fixture.deadLetterTopic, count: 4)
        #expect(letters.map { $0.header("dlq-reason")?.stringValue } == ["invalid_json", "unsupported_schema_version", "wrong_topic", "record_too_large"])
        #expect(letters.map { $0.header("dlq-source-offset")?.stringValue } == ["0", "1", "2", "3"])
        #expect(letters[0].value == Array("{not json".utf8))
        #expect(letters[3].value == oversized, "the oversized record is kept whole for inspection")
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("One valid event cannot stop the stream: votes whose option holds '|' are counted exactly, an event Redis refuses is dead-lettered with the reason, the partition moves on, and replays change nothing")
    func eventsThatOnceWedgedTheProcessor() async throws {
        let fixture = try await ProcessorFixture(partitions: 1)
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let keys = FeatureKeys(prefix: fixture.configuration.features.keyPrefix)
        let now = wallNow()
        func vote(_ user: String, _ poll: String, _ option: String, at time: Int64) -> Event {
            Event(eventID: EventID.random(), type: .pollVote, userID: user, subjectID: poll, occurredAt: EventTimestamp(millisecondsSinceEpoch: time), payload: .vote(optionID: option))
        }
        // A key of the wrong type under one poll: every vote on it is refused by Redis, now and on any retry.
        _ = try await redis.send(RedisCommand("SET", keys.pollTally("broken"), "not a hash"))
        let refused = vote("u4", "broken", "a", at: now - 3000)
        let votes = [
            vote("u1", "p1", "a|b", at: now - 5000), vote("u1", "p1", "c", at: now - 4000),  // halted the processor before
            vote("u2", "p1", "a|5", at: now - 5000), refused, vote("u3", "p1", "a|5", at: now - 5000),
        ]
        let after = (0..<50).map { vote("later\($0)", "p2", "x", at: now - 1000) }
        let likes = (0..<20).map { Event(eventID: EventID.random(), type: .movieLike, userID: "fan\($0)", subjectID: "m1", occurredAt: EventTimestamp(millisecondsSinceEpoch: now - 1000)) }
        var ends = try await fixture.produce(votes)
        ends.merge(try await fixture.produce(after + likes)) { max($0, $1) }
        _ = try await fixture.runUntilCommitted(ends, timeout: .seconds(60))

        let reader = FeatureReader(configuration: fixture.configuration.features, redis: redis)
        let expected = PollTally(options: ["c": 1, "a|5": 2], totalVoters: 3)
        #expect(try await reader.pollTally("p1") == expected)
        #expect(try await reader.pollTally("p2") == PollTally(options: ["x": 50], totalVoters: 50))
        #expect(try await reader.popularityScores(.movie, window: "7d", now: wallNow()) == ["m1": 20])
        let letters = try await readAll(topic: fixture.deadLetterTopic, count: 1)
        #expect(letters.count == 1)
        #expect(letters.first?.header("dlq-reason")?.stringValue == "feature_rejected")
        #expect(letters.first?.header("dlq-error")?.stringValue?.contains("WRONGTYPE") == true, "\(letters.first?.header("dlq-error")?.stringValue ?? "no letter")")
        #expect(letters.first?.value == refused.canonicalJSON())
        #expect(try await fixture.storedInteractions() == votes.count + after.count + likes.count, "valid events stay in the training store")

        // The same topics replayed twice by other groups onto the same keys: the tallies do not move.
        for pass in 0..<2 {
            var replay = fixture
            replay.configuration.consumer.groupID += "-replay\(pass)"
            _ = try await replay.runUntilCommitted(ends, timeout: .seconds(60))
            #expect(try await reader.pollTally("p1") == expected)
            #expect(try await reader.pollTally("p2") == PollTally(options: ["x": 50], totalVoters: 50))
        }
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("PostgreSQL down mid-run: processing pauses without committing, resumes when it is back; every interaction stored once, Redis as a clean pass")
    func postgresOutagePausesAndResumes() async throws {
        let server = try await offThePool { try PrivatePostgres() }
        defer { try? server.remove() }
        var fixture = try await ProcessorFixture()
        fixture.configuration.postgres = server.configuration
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let outage = try await fixture.runThroughOutage(seed: 15, stop: { try server.stop() }, start: { try server.start() })

        // Every interaction once in the training store (the retried batches wrote some rows twice: kept once).
        let postgres = PostgresClient(configuration: server.configuration)
        let stored = try await postgres.query("SELECT count(*) FROM interactions")[0].decode(0, as: Int.self)
        await postgres.shutdown()
        #expect(stored == Set(outage.interactions.map(\.eventID)).count)
        // Redis: the retried batches were applied to Redis before PostgreSQL failed them; nothing counted twice.
        try await fixture.expectRedisEqualsCleanPass(after: outage, redis: redis)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("Broker restarted empty (the local broker keeps topics in memory): the processor rejoins, reads the recreated topics from offset 0 and counts them")
    func brokerRestartedEmpty() async throws {
        let broker = try PrivateBroker()
        defer { try? broker.remove() }
        let fixture = try await ProcessorFixture(partitions: 1).onPrivateBroker(broker)
        func createTopics() async throws { try await fixture.createTopics(on: broker) }
        try await createTopics()
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        func likes(_ item: String, _ count: Int) -> [Event] { ProcessorFixture.likes(item, count, at: now - 1000) }
        let before = likes("before", 300)
        let running = try await fixture.start()
        // A record that cannot be decoded: the dead-letter producer has sent before the restart.
        var beforeEnds = try await fixture.produce(before)
        beforeEnds.merge(try await fixture.produce([KafkaProducerMessage(topic: fixture.topics.movie, key: "u", value: "{not json before")])) { max($0, $1) }
        let committed1 = try await fixture.waitForCommitted(beforeEnds, timeout: .seconds(60))
        #expect(committed1)

        try broker.stop()
        try await Task.sleep(for: .seconds(1))
        try broker.start()
        try await createTopics()  // what the gateway's readiness loop does after an empty restart
        // Fewer records than before: offsets 0…99 are all at or below the old applied offset (300).
        let after = likes("after", 100)
        var ends = try await fixture.produce(after)
        // A dead letter after the restart: the broker lost the dead-letter producer's id, so that
        // producer is stuck (each send times out) until it is replaced, and the partition with it.
        ends.merge(try await fixture.produce([KafkaProducerMessage(topic: fixture.topics.movie, key: "u", value: "{not json after")])) { max($0, $1) }
        let reader = FeatureReader(configuration: fixture.configuration.features, redis: redis)
        var scores: [String: Double] = [:]
        let deadline = ContinuousClock.now + .seconds(90)
        while scores["after"] != 100, ContinuousClock.now < deadline {
            scores = try await reader.popularityScores(.movie, window: "7d", now: wallNow())
            if scores["after"] != 100 { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(scores == ["before": 300, "after": 100])
        // One dead-letter send times out (the producer's 30 s delivery timeout) before its replacement.
        let committed2 = try await fixture.waitForCommitted(ends, timeout: .seconds(120))
        #expect(committed2, "the new group state has the new offsets committed")
        let letters = try await readAll(topic: fixture.deadLetterTopic, count: 1, bootstrapServers: broker.bootstrapServers)
        #expect(letters.map(\.value) == [Array("{not json after".utf8)])
        await running.stop()
        #expect(try await fixture.storedInteractions() == 400)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("Broker restarted empty while the processor was stopped, and the new partition grew past the old applied offset before it started: every new record counts (the topic id tells the incarnations apart)")
    func brokerRestartedEmptyWhileStopped() async throws {
        let broker = try PrivateBroker()
        defer { try? broker.remove() }
        let fixture = try await ProcessorFixture(partitions: 1).onPrivateBroker(broker)
        func createTopics() async throws { try await fixture.createTopics(on: broker) }
        try await createTopics()
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        func likes(_ item: String, _ count: Int) -> [Event] { ProcessorFixture.likes(item, count, at: now - 1000) }
        var running = try await fixture.start()
        let committed1 = try await fixture.waitForCommitted(try await fixture.produce(likes("before", 300)), timeout: .seconds(60))
        #expect(committed1)
        await running.stop()

        try broker.stop()
        try await Task.sleep(for: .seconds(1))
        try broker.start()
        try await createTopics()
        // More records than before, all in the log before the processor fetches: offsets 0…499 reach
        // past the old applied offset (299), so the log end cannot tell this log from the old one.
        let ends = try await fixture.produce(likes("after", 500))
        running = try await fixture.start()
        let committed2 = try await fixture.waitForCommitted(ends, timeout: .seconds(60))
        #expect(committed2)
        await running.stop()
        let scores = try await FeatureReader(configuration: fixture.configuration.features, redis: redis).popularityScores(.movie, window: "7d", now: wallNow())
        #expect(scores == ["before": 300, "after": 500])
        #expect(try await fixture.storedInteractions() == 800)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("A single POST without event_id whose record is sent but unanswered (broker frozen): the 503 carries the generated event_id; retried with it once the broker answers, the event is stored once")
    func unansweredPostRetriedWithItsIDIsStoredOnce() async throws {
        let broker = try PrivateBroker()
        defer { try? broker.remove() }
        let fixture = try await ProcessorFixture(partitions: 1).onPrivateBroker(broker)
        try await fixture.createTopics(on: broker)
        // The gateway binary, on the private broker, with a short delivery timeout.
        let port = TestStack.freePort()
        let key = "unanswered-\(UUID().uuidString)"
        var environment = TestStack.gatewayEnvironment(port: port, apiKey: key, movieTopic: fixture.topics.movie, pollTopic: fixture.topics.poll)
        environment["STREAMREC_KAFKA_BROKERS"] = broker.bootstrapServers.joined(separator: ",")
        environment["STREAMREC_KAFKA_DELIVERY_TIMEOUT"] = "2s"
        let log = NSTemporaryDirectory() + "\(fixture.schema)-gateway.log"
        let gateway = try TestStack.spawnInBackground([TestStack.executable("ingest-gateway")], environment: environment, outputPath: log)
        defer {
            kill(gateway, SIGKILL)
            try? FileManager.default.removeItem(atPath: log)
        }
        func post(_ body: String) async throws -> (status: Int, body: String) {
            try await HTTPConnection.connect(host: "127.0.0.1", port: port).session {
                try await $0(.POST, "/v1/events", [("Content-Type", "application/json"), ("X-API-Key", key)], body)
            }
        }
        let at = RFC3339.format(EventTimestamp(millisecondsSinceEpoch: wallNow() - 1000))
        // Connected, topic and producer id known: the next record goes straight onto the wire.
        var warmUp = (status: 0, body: "")
        for _ in 0..<100 where warmUp.status != 202 {
            warmUp = (try? await post(#"{"type":"movie.like","user_id":"warm","item_id":"m1","occurred_at":"\#(at)"}"#)) ?? (0, "")
            if warmUp.status != 202 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(warmUp.status == 202)
        let pidText = try String(contentsOfFile: broker.runDirectory + "/pids/kafka.pid", encoding: .utf8)
        let brokerPID = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(brokerPID, SIGSTOP)
        let unanswered: (status: Int, body: String)
        do {
            defer { kill(brokerPID, SIGCONT) }
            unanswered = try await post(#"{"type":"movie.like","user_id":"u1","item_id":"m2","occurred_at":"\#(at)"}"#)
        }
        #expect(unanswered.status == 503, "\(unanswered)")
        let error = try JSONParser.parse(Array(unanswered.body.utf8))
        guard case .object(let members) = error, case .object(let fields)? = members.first(where: { $0.key == "error" })?.value,
            case .string(let eventID)? = fields.first(where: { $0.key == "event_id" })?.value
        else {
            Issue.record("no event_id in \(unanswered.body)")
            return
        }
        // Retried with the returned id until the broker (and a fresh producer) take it.
        var retried = (status: 0, body: "")
        let deadline = ContinuousClock.now + .seconds(60)
        while retried.status != 202, ContinuousClock.now < deadline {
            retried = (try? await post(#"{"event_id":"\#(eventID)","type":"movie.like","user_id":"u1","item_id":"m2","occurred_at":"\#(at)"}"#)) ?? (0, "")
            if retried.status != 202 { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(retried.status == 202, "\(retried)")
        // The topic may hold the event twice (the unanswered record may have been written); the store once.
        let running = try await fixture.start()
        let postgres = PostgresClient(configuration: fixture.configuration.postgres)
        var rows = 0
        var total = 0
        let waitUntil = ContinuousClock.now + .seconds(60)
        while total < 2, ContinuousClock.now < waitUntil {
            total = try await postgres.query("SELECT count(*) FROM interactions")[0].decode(0, as: Int.self)
            if total < 2 { try await Task.sleep(for: .milliseconds(200)) }
        }
        try await Task.sleep(for: .seconds(2))  // anything further in the topic is applied too
        rows = try await postgres.query("SELECT count(*) FROM interactions WHERE event_id = \(eventID)")[0].decode(0, as: Int.self)
        total = try await postgres.query("SELECT count(*) FROM interactions")[0].decode(0, as: Int.self)
        await postgres.shutdown()
        await running.stop()
        #expect(rows == 1)
        #expect(total == 2, "the warm-up event and the retried one")
        let redis = RedisClient(configuration: fixture.configuration.redis)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("Redis down mid-run: processing pauses without committing, resumes when Redis is back, nothing lost")
    func redisOutagePausesAndResumes() async throws {
        let privateRedis = try await offThePool { try PrivateRedis(persistent: true) }
        defer { try? privateRedis.remove() }
        var fixture = try await ProcessorFixture(redis: privateRedis.configuration)
        fixture.configuration.redis.commandTimeout = .seconds(1)
        let redis = RedisClient(configuration: privateRedis.configuration)
        let outage = try await fixture.runThroughOutage(seed: 5, stop: { try privateRedis.stop() }, start: { try privateRedis.start() })
        try await fixture.expectRedisEqualsCleanPass(after: outage, redis: redis)
        #expect(try await fixture.storedInteractions() == Set(outage.interactions.map(\.eventID)).count)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test("SIGKILL at random points during a 100k-event run, restart: the same state as a clean run")
    func killedAndRestartedEqualsCleanRun() async throws {
        let fixture = try await ProcessorFixture()
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let catalog = SyntheticEvents.catalog(movies: 300, polls: 60, now: now)
        var ends = try await fixture.produce(catalog)
        _ = try await fixture.runUntilCommitted(ends)
        ends.merge(try await fixture.produce(SyntheticEvents.interactions(count: 100_000, users: 2000, movies: 300, polls: 60, now: now, seed: 9))) { max($0, $1) }

        var random = SplitMix(UInt64(now))
        let total = ends.values.reduce(0, +)
        let log = NSTemporaryDirectory() + "\(fixture.schema).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let run = try await fixture.runBinaryKilled(3, environment: Self.environment(fixture), ends: ends, random: &random, log: log)
        #expect(run.served == true, "the last run served HTTP before SIGTERM")
        #expect(run.exitStatus == 0, "graceful exit; log: \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1500))")
        #expect(run.committedAtKills.count == 3)
        // The kills must land mid-run, or this test proves nothing.
        #expect(run.committedAtKills.contains { $0 > Int64(catalog.count) && $0 < total }, "committed at the kills: \(run.committedAtKills) of \(total)")
        #expect(run.finished)

        let clean = try await fixture.secondPass(catalog: catalog)
        _ = try await clean.runUntilCommitted(ends, timeout: .seconds(180))
        let expected = try await clean.redisSnapshot(redis)
        let actual = try await fixture.redisSnapshot(redis)
        // On a mismatch, say which keys differ and how (the whole snapshot is too large to print).
        let differing = Set(actual.keys).union(expected.keys).filter { actual[$0] != expected[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) keys differ (killed run vs clean run): \(differing.prefix(8).map { "\($0): \(actual[$0]?.prefix(300) ?? "absent") vs \(expected[$0]?.prefix(300) ?? "absent")" })")
        #expect(try await fixture.storedInteractions() == (try await clean.storedInteractions()))
        try await clean.cleanUp(redis)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    @Test(
        "Killed with SIGKILL during a steady stream and started again at once, the processor applies events again: with a short session (dynamic membership) and with a static group.instance.id",
        arguments: ["dynamic", "static"])
    func killedDuringASteadyStreamResumesAfterARestart(membership: String) async throws {
        let fixture = try await ProcessorFixture()
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let catalog = SyntheticEvents.catalog(movies: 50, polls: 10, now: now)
        _ = try await fixture.runUntilCommitted(try await fixture.produce(catalog))
        // About 1 000 events/s for the whole test, from a task of its own.
        let stream = Task {
            var seed: UInt64 = 1
            while !Task.isCancelled {
                _ = try await fixture.produce(SyntheticEvents.interactions(count: 100, users: 300, movies: 50, polls: 10, now: wallNow(), seed: seed))
                seed += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        var environment = try Self.environment(fixture)
        if membership == "dynamic" {
            // A session shorter than a restart, as `make run` configures the processor.
            environment["STREAMREC_KAFKA_SESSION_TIMEOUT"] = "1s"
            environment["STREAMREC_KAFKA_HEARTBEAT_INTERVAL"] = "250ms"
        } else {
            environment["STREAMREC_KAFKA_GROUP_INSTANCE_ID"] = "processor-\(fixture.schema)"
        }
        let port = Int(environment["STREAMREC_HTTP_PORT"]!)!
        func applied() async -> Double {
            guard let body = try? await HTTPConnection.connect(host: "127.0.0.1", port: port).session({ try await $0(.GET, "/metrics", [], nil) }).body
            else { return 0 }
            return PrometheusSamples(body).sum("streamrec_processor_events_total", matching: ["outcome": "applied"]) ?? 0
        }
        func waitUntilApplying(timeout: Duration) async throws -> Duration? {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < timeout {
                if await applied() > 0 { return ContinuousClock.now - start }
                try await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }
        let log = NSTemporaryDirectory() + "\(fixture.schema)-\(membership).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        func logTail() -> String { String(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1500)) }

        let first = try TestStack.spawnInBackground([TestStack.executable("stream-processor")], environment: environment, outputPath: log)
        let firstStart = try await waitUntilApplying(timeout: .seconds(60))
        #expect(firstStart != nil, "the first process never applied an event; log: \(logTail())")
        try await Task.sleep(for: .seconds(2))
        kill(first, SIGKILL)
        _ = await TestStack.waitForExit(first, timeout: .seconds(10))
        let second = try TestStack.spawnInBackground([TestStack.executable("stream-processor")], environment: environment, outputPath: log)
        // A bound that only rules out waiting for ever; the figure itself comes from `make bench-restart`.
        let resumed = try await waitUntilApplying(timeout: .seconds(30))
        stream.cancel()
        #expect(resumed != nil, "no event applied within 30 s of the restart (\(membership)); log: \(logTail())")
        print("processor restart (\(membership) membership): first event applied \(resumed.map { "\($0)" } ?? "never") after the restart")
        kill(second, SIGTERM)
        #expect(await TestStack.waitForExit(second, timeout: .seconds(30)) == 0, "graceful exit; log: \(logTail())")
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    static func environment(_ fixture: ProcessorFixture) throws -> [String: String] {
        let configuration = fixture.configuration
        var environment = TestStack.environment
        environment["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        environment["STREAMREC_HTTP_PORT"] = String(TestStack.freePort())
        environment["STREAMREC_KAFKA_BROKERS"] = configuration.consumer.bootstrapServers.joined(separator: ",")
        environment["STREAMREC_KAFKA_GROUP_ID"] = configuration.consumer.groupID
        environment["STREAMREC_KAFKA_SESSION_TIMEOUT"] = "6s"
        environment["STREAMREC_KAFKA_HEARTBEAT_INTERVAL"] = "1s"
        environment["STREAMREC_TOPICS_MOVIE"] = fixture.topics.movie
        environment["STREAMREC_TOPICS_POLL"] = fixture.topics.poll
        environment["STREAMREC_TOPICS_DEAD_LETTER"] = fixture.deadLetterTopic
        environment["STREAMREC_TOPICS_PARTITIONS"] = "3"
        environment["STREAMREC_FEATURES_KEY_PREFIX"] = configuration.features.keyPrefix
        environment["STREAMREC_POSTGRES_SCHEMA"] = fixture.schema
        environment["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = TestStack.repositoryRoot + "/configs/migrations"
        environment["STREAMREC_LOG_LEVEL"] = "info"
        return environment
    }

    private func readAll(topic: String, count: Int, bootstrapServers: [String]? = nil) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: try bootstrapServers ?? TestStack.kafkaBrokers(), groupID: TestStack.uniqueName("dlq-reader"), sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1)
        ))
        try consumer.subscribe(topics: [topic])
        // Closing the consumer ends the iteration, also if fewer records than expected ever arrive.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            await consumer.close()
        }
        var records: [KafkaConsumerMessage] = []
        var iterator = consumer.batches.makeAsyncIterator()
        while records.count < count, let batch = try await iterator.next() {
            records.append(contentsOf: batch)
        }
        watchdog.cancel()
        await consumer.close()
        return records.sorted { $0.offset < $1.offset }
    }

    private func makeLike(at now: Int64) -> Event {
        Event(eventID: EventID.random(), type: .movieLike, userID: "u", subjectID: "m1", occurredAt: EventTimestamp(millisecondsSinceEpoch: now))
    }

    @Test("With postgres.apply_migrations = false the processor refuses to start on a schema missing a migration, naming it; applying (the default) migrates")
    func checkOnlyRefusesAnUnmigratedSchema() async throws {
        var fixture = try await ProcessorFixture(partitions: 1)
        let redis = RedisClient(configuration: fixture.configuration.redis)
        fixture.configuration.applyMigrations = false
        let refused = await #expect(throws: PostgresError.self) { _ = try await fixture.start() }
        #expect(refused?.description.contains("the schema lacks migration 0001_training_store") == true)
        #expect(refused?.description.contains("trainer check") == true)

        fixture.configuration.applyMigrations = true
        let running = try await fixture.start()
        await running.stop()
        let postgres = PostgresClient(configuration: fixture.configuration.postgres)
        let versions = try await postgres.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(0, as: Int.self) }
        #expect(versions == (try PostgresMigrator(directory: fixture.configuration.migrationsDirectory).migrations.map(\.version)))
        await postgres.shutdown()

        // Now current: the check passes and the processor starts.
        fixture.configuration.applyMigrations = false
        let checked = try await fixture.start()
        await checked.stop()
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }
}

func wallNow() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

@Suite("The processor's catalog cache")
struct CatalogCacheTests {
    @Test("ids the catalog does not know are remembered as missing within a bound: producers choose them")
    func missingIdsAreBounded() async throws {
        let schema = TestStack.uniqueName("catalog")
        let postgres = try await TestStack.migratedSchema(schema)
        let cache = CatalogCache(missingCapacity: 100)
        let store = TrainingStore(postgres: postgres)
        for round in 0..<5 {
            let ids = (0..<60).map { "unknown-\(round)-\($0)" }
            let groups = try await cache.groups(.movie, ids: ids, store: store)
            #expect(groups.isEmpty)
            #expect(cache.missingCount(.movie) <= 100)
        }
        #expect(cache.missingCount(.movie) > 0)
        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
    }
}

@Suite("Dead letters")
struct DeadLetterTests {
    @Test("a record too large to be sent again is cut to a bound, with its size in dlq-truncated-from; the reason and origin are kept; the error text is bounded")
    func largeRecordsAreCut() {
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 1_200_000)
        let record = KafkaConsumerMessage(topic: "t", partition: 2, offset: 7, key: Array("u".utf8), value: value, headers: [])
        let letter = DeadLetter(record: record, reason: "record_too_large", field: nil, message: String(repeating: "e", count: 100_000))
        let message = letter.producerMessage(topic: "dlq")
        #expect(message.value.count == DeadLetter.maximumValueBytes)
        let headers = Dictionary(message.headers.map { ($0.name, $0.stringValue ?? "") }, uniquingKeysWith: { $1 })
        #expect(headers["dlq-truncated-from"] == "1200000")
        #expect(headers["dlq-reason"] == "record_too_large" && headers["dlq-source-offset"] == "7" && headers["dlq-source-partition"] == "2")
        #expect(headers["dlq-error"]?.utf8.count == DeadLetter.maximumMessageBytes)
        // A record within the bound is kept whole, with no truncation header.
        let small = DeadLetter(record: KafkaConsumerMessage(topic: "t", partition: 0, offset: 0, key: nil, value: Array("{}".utf8), headers: []), reason: "invalid_json", field: nil, message: "x")
        #expect(small.producerMessage(topic: "dlq").value == Array("{}".utf8))
        #expect(!small.producerMessage(topic: "dlq").headers.contains { $0.name == "dlq-truncated-from" })
        // Huge headers (a third party's record): left out, their size said, the reason kept.
        let heavy = KafkaConsumerMessage(
            topic: "t", partition: 0, offset: 1, key: nil, value: Array("{}".utf8), headers: [KafkaHeader(name: "h", value: [UInt8](repeating: 1, count: 900_000))]
        )
        let cut = DeadLetter(record: heavy, reason: "invalid_json", field: nil, message: "x").producerMessage(topic: "dlq")
        #expect(cut.headers.first { $0.name == "dlq-headers-dropped" }?.stringValue == "900001")
        #expect(cut.headers.first { $0.name == "dlq-reason" }?.stringValue == "invalid_json")
        #expect(cut.headers.reduce(0) { $0 + $1.value.count } < 10_000)
    }
}
