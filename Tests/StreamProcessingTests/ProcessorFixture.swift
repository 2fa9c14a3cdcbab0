import EventRecords
import Events
import Features
import Foundation
import Ingest
import Kafka
import LoadGeneration
import Logging
import Postgres
import Redis
import ServiceLifecycle
import ServiceSupport
import Training
import StackTestSupport
import Testing
import Tracing
import StreamProcessing

/// Topics, a consumer group, a Redis key prefix and a Postgres schema of one test's own, and ways to
/// fill the topics and run the processor over them.
struct ProcessorFixture {
    let topics: EventTopics
    let deadLetterTopic: String
    let schema: String
    var configuration: ProcessorConfiguration
    /// Snapshots leave out keys expiring before this instant (see ``RedisSnapshot``), so a window bucket
    /// that expires between a run and the pass it is compared with is in neither. Shared by the fixture's
    /// second passes; 30 minutes is far beyond any test's length.
    var snapshotCutoff = Int64(Date().timeIntervalSince1970 * 1000) + 30 * 60_000

    init(redis: RedisConfiguration? = nil, partitions: Int = 3) async throws {
        let name = TestStack.uniqueName("proc")
        topics = EventTopics(movie: "\(name)-movie", poll: "\(name)-poll")
        deadLetterTopic = "\(name)-dlq"
        schema = name
        let postgres = try await TestStack.createSchema(schema)
        let consumer = KafkaConsumerConfiguration(
            bootstrapServers: try TestStack.kafkaBrokers(), groupID: "\(name)-group", clientID: "processor-tests",
            sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1), maxBatchSize: 2000, batchLinger: .milliseconds(20)
        )
        configuration = ProcessorConfiguration(
            consumer: consumer, producer: KafkaProducerConfiguration(bootstrapServers: consumer.bootstrapServers, clientID: "processor-tests-dlq"),
            redis: try redis ?? TestStack.redisConfiguration(), postgres: postgres
        )
        configuration.topics = topics
        configuration.deadLetterTopic = deadLetterTopic
        configuration.topicPartitions = partitions
        configuration.features.keyPrefix = "\(name):v1"
        configuration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        configuration.retryBackoff = .init(initial: .milliseconds(50), maximum: .milliseconds(500))
        configuration.port = TestStack.freePort()

        let kafka = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: consumer.bootstrapServers))
        _ = try await kafka.createTopics((topics.all + [deadLetterTopic]).map { KafkaTopicSpecification(name: $0, partitions: partitions) })
        await kafka.shutdown()
    }

    /// The same topics, read by another group into another key prefix and schema: a second, clean pass.
    /// `catalog` is loaded into the new schema first, as the trainer's bootstrap does in production:
    /// which genres an interaction counts for depends on the catalog known when it is applied, and a
    /// pass over existing topics reads catalog and interaction partitions in no fixed order.
    func secondPass(catalog: [Event], redis: RedisConfiguration? = nil) async throws -> ProcessorFixture {
        let name = TestStack.uniqueName("pass")
        var configuration = configuration
        configuration.consumer.groupID = "\(name)-group"
        configuration.features.keyPrefix = "\(name):v1"
        configuration.postgres = try await TestStack.createSchema(name)
        configuration.port = TestStack.freePort()
        if let redis { configuration.redis = redis }
        let postgres = PostgresClient(configuration: configuration.postgres)
        _ = try await PostgresMigrator(directory: configuration.migrationsDirectory).migrate(postgres)
        for event in catalog { try await TrainingStore(postgres: postgres).upsertCatalog(event) }
        await postgres.shutdown()
        return ProcessorFixture(topics: topics, deadLetterTopic: deadLetterTopic, schema: name, configuration: configuration, snapshotCutoff: snapshotCutoff)
    }

    private init(topics: EventTopics, deadLetterTopic: String, schema: String, configuration: ProcessorConfiguration, snapshotCutoff: Int64) {
        self.topics = topics
        self.deadLetterTopic = deadLetterTopic
        self.schema = schema
        self.configuration = configuration
        self.snapshotCutoff = snapshotCutoff
    }

    /// Writes events as the gateway does (key = user, canonical JSON, contract headers). Returns the
    /// end offset per partition written to.
    @discardableResult
    func produce(_ events: [Event]) async throws -> [KafkaTopicPartition: Int64] {
        try await produce(events.map { EventRecord.message(for: $0, canonicalJSON: $0.canonicalJSON(), topics: topics) })
    }

    @discardableResult
    func produce(_ messages: [KafkaProducerMessage]) async throws -> [KafkaTopicPartition: Int64] {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: configuration.consumer.bootstrapServers, clientID: "processor-tests"))
        var ends: [KafkaTopicPartition: Int64] = [:]
        for start in stride(from: 0, to: messages.count, by: 20_000) {
            for result in await producer.send(Array(messages[start..<min(messages.count, start + 20_000)])) {
                let report = try result.get()
                let partition = KafkaTopicPartition(topic: report.topic, partition: report.partition)
                ends[partition] = max(ends[partition] ?? 0, report.offset + 1)
            }
        }
        await producer.shutdown()
        return ends
    }

    /// Runs the processor in this process until it has committed `ends`, then shuts it down gracefully.
    func runUntilCommitted(_ ends: [KafkaTopicPartition: Int64], timeout: Duration = .seconds(90), tracer: (any Tracer)? = nil) async throws -> ProcessorRun {
        let running = try await start(tracer: tracer)
        let reached = try await waitForCommitted(ends, timeout: timeout)
        await running.stop()
        guard reached else { throw FixtureError("the processor did not commit \(ends) within \(timeout); it has \(running.application.service.committedOffsets)") }
        return running
    }

    /// - Parameters:
    ///   - http: also serve `/healthz`, `/readyz` and `/metrics` on `configuration.port`.
    ///   - tracer: the batch spans' tracer (tracing on), nil for tracing off.
    func start(http: Bool = false, tracer: (any Tracer)? = nil) async throws -> ProcessorRun {
        var logger = Logger(label: "processor-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["PROCESSOR_TEST_LOG"] == "1" ? .info : .warning
        let application = try await ProcessorApplication.start(configuration: configuration, metrics: ServiceMetrics(), logger: logger, tracer: tracer)
        let group = ServiceGroup(configuration: .init(services: application.services(includingHTTP: http), logger: logger))
        let task = Task { try await group.run() }
        return ProcessorRun(application: application, group: group, task: task, port: configuration.port)
    }

    /// Records committed by the group so far over these partitions, as the broker has them.
    func committedRecords(_ partitions: [KafkaTopicPartition]) async throws -> Int64 {
        let observer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: configuration.consumer.bootstrapServers, groupID: configuration.consumer.groupID
        ))
        let committed = try? await observer.committedOffsets(for: partitions)
        await observer.close()
        return committed?.values.reduce(0, +) ?? 0
    }

    /// Polls the group's committed offsets, as the broker has them, until they reach `ends`.
    func waitForCommitted(_ ends: [KafkaTopicPartition: Int64], timeout: Duration) async throws -> Bool {
        let observer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: configuration.consumer.bootstrapServers, groupID: configuration.consumer.groupID
        ))
        let deadline = ContinuousClock.now + timeout
        var reached = false
        while !reached, ContinuousClock.now < deadline {
            if let committed = try? await observer.committedOffsets(for: Array(ends.keys)) {
                reached = ends.allSatisfy { committed[$0.key, default: 0] >= $0.value }
            }
            if !reached { try await Task.sleep(for: .milliseconds(100)) }
        }
        await observer.close()
        return reached
    }

    /// The real `stream-processor` binary over these topics (`environment`: its configuration), killed with
    /// SIGKILL `kills` times and started again at once each time, then run until the group has committed
    /// `ends` and stopped with SIGTERM. Each kill comes a random 0.2–1.7 s after the run has committed more
    /// than before it started (joining the group takes seconds, and a kill before any work proves nothing).
    func runBinaryKilled(
        _ kills: Int, environment: [String: String], ends: [KafkaTopicPartition: Int64], random: inout SplitMix, log: String
    ) async throws -> KilledRun {
        var run = KilledRun()
        for attempt in 0...kills {
            let pid = try TestStack.spawnInBackground([TestStack.executable("stream-processor")], environment: environment, outputPath: log)
            if attempt < kills {
                let before = try await committedRecords(Array(ends.keys))
                let deadline = ContinuousClock.now + .seconds(60)
                while try await committedRecords(Array(ends.keys)) <= before, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await Task.sleep(for: .milliseconds(200 + random.next(1500)))
                kill(pid, SIGKILL)
                _ = await TestStack.waitForExit(pid, timeout: .seconds(10))
                run.committedAtKills.append(try await committedRecords(Array(ends.keys)))
            } else {
                // Once it serves HTTP its service group handles SIGTERM. Sent earlier (the killed run may
                // have committed everything already), SIGTERM would find no handler and end it as a signal does.
                if let port = environment["STREAMREC_HTTP_PORT"].flatMap(Int.init) {
                    run.served = await TestStack.waitForListening(port: port, timeout: .seconds(60))
                }
                run.finished = try await waitForCommitted(ends, timeout: .seconds(120))
                kill(pid, SIGTERM)
                run.exitStatus = await TestStack.waitForExit(pid, timeout: .seconds(30))
            }
        }
        return run
    }

    /// What ``runBinaryKilled(_:environment:ends:random:log:)`` saw.
    struct KilledRun {
        /// Records committed by the group right after each kill.
        var committedAtKills: [Int64] = []
        /// Whether the last run committed `ends` in time.
        var finished = false
        /// Whether the last run served HTTP before it was stopped (nil: no port in its environment).
        var served: Bool?
        /// The last run's exit status on SIGTERM (nil: it did not exit within 30 s).
        var exitStatus: Int32?
    }

    /// What ``runThroughOutage(seed:stop:start:)`` wrote: the catalog, the interactions, the end offsets.
    struct OutageRun {
        let catalog: [Event]
        let interactions: [Event]
        let ends: [KafkaTopicPartition: Int64]
    }

    /// A dependency outage mid-run: the processor applies and commits a catalog and 2 000 interactions;
    /// `stop` takes a dependency down, 3 000 more are written, the processor must pause and commit nothing
    /// for 2 s; `start` brings it back and everything must be committed. The processor is stopped after.
    func runThroughOutage(seed: UInt64, stop: @escaping @Sendable () throws -> Void, start: @escaping @Sendable () throws -> Void) async throws -> OutageRun {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let catalog = SyntheticEvents.catalog(movies: 50, polls: 20, now: now)
        let before = SyntheticEvents.interactions(count: 2000, now: now, seed: seed)
        let during = SyntheticEvents.interactions(count: 3000, now: now, seed: seed + 1)
        let running = try await self.start(http: true)
        // The catalog first: genre attribution depends on the catalog known when an interaction is applied.
        var ends = try await produce(catalog)
        let catalogCommitted = try await waitForCommitted(ends, timeout: .seconds(60))
        #expect(catalogCommitted)
        // Catalog events are upserted into PostgreSQL's catalog tables (what the API's metadata reads).
        let stored = try await storedCatalog()
        var expectedMovies: [String: String] = [:]
        var expectedPolls: [String: String] = [:]
        for event in catalog {
            switch event.payload {
            case .movieAdded(let movie): expectedMovies[event.subjectID] = movie.title
            case .pollCreated(let poll): expectedPolls[event.subjectID] = poll.question
            default: break
            }
        }
        #expect(!expectedMovies.isEmpty && !expectedPolls.isEmpty)
        #expect(stored.movies == expectedMovies)
        #expect(stored.polls == expectedPolls)
        ends.merge(try await produce(before)) { max($0, $1) }
        let beforeCommitted = try await waitForCommitted(ends, timeout: .seconds(60))
        #expect(beforeCommitted)
        // What /metrics says of it: events by type and outcome, committed offsets and lag per partition,
        // batch durations and freshness.
        // Lag is sampled every 5 s, also while idle (as now: everything is committed, so it must reach 0).
        var metrics = try await running.metrics()
        let lagDeadline = ContinuousClock.now + .seconds(12)
        while metrics.labels(of: "streamrec_processor_lag_records").count < topics.all.count * configuration.topicPartitions
            || metrics.sum("streamrec_processor_lag_records") != 0, ContinuousClock.now < lagDeadline
        {
            try await Task.sleep(for: .milliseconds(250))
            metrics = try await running.metrics()
        }
        #expect(metrics.sum("streamrec_processor_events_total", matching: ["outcome": "catalog"]) == Double(catalog.count))
        // Every 97th synthetic event is a producer duplicate (the same event again): counted as such, once applied.
        var unique: [Event] = []
        var seen: Set<String> = []
        for event in before where seen.insert(event.eventID).inserted { unique.append(event) }
        #expect(unique.count < before.count)
        #expect(metrics.sum("streamrec_processor_events_total", matching: ["outcome": "applied"]) == Double(unique.count))
        #expect(metrics.sum("streamrec_processor_events_total", matching: ["outcome": "duplicate"]) == Double(before.count - unique.count))
        for type in Set(before.map(\.type.rawValue)) {
            #expect(metrics.sum("streamrec_processor_events_total", matching: ["type": type, "outcome": "applied"]) == Double(unique.filter { $0.type.rawValue == type }.count), "\(type)")
        }
        #expect(metrics.sum("streamrec_processor_committed_offset") == Double(ends.values.reduce(0, +)))
        #expect(Set(metrics.labels(of: "streamrec_processor_committed_offset").compactMap { $0["topic"] }) == Set(topics.all))
        #expect(metrics.labels(of: "streamrec_processor_lag_records").count == topics.all.count * configuration.topicPartitions)
        #expect(metrics.sum("streamrec_processor_lag_records") == 0)
        #expect((metrics.sum("streamrec_processor_batch_duration_seconds_count") ?? 0) > 0)
        #expect((metrics.sum("streamrec_processor_freshness_seconds_count") ?? 0) > 0)
        #expect(metrics.sum("streamrec_processor_paused") == 0)
        #expect(try await running.get("/readyz").status == 200)

        // Off the cooperative pool: stopping and starting a server blocks for a second or more.
        try await offThePool(stop)
        ends.merge(try await produce(during)) { max($0, $1) }
        let deadline = ContinuousClock.now + .seconds(30)
        while !running.application.service.isPaused, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(running.application.service.isPaused)
        let paused = try await running.metrics()
        #expect(paused.sum("streamrec_processor_paused") == 1)
        #expect((paused.sum("streamrec_processor_batch_failures_total") ?? 0) > 0)
        let readiness = try await running.get("/readyz")
        #expect(readiness.status == 503 && readiness.body.contains("paused"), "\(readiness)")
        let committedWhileDown = running.application.service.committedOffsets
        try await Task.sleep(for: .seconds(2))
        #expect(running.application.service.committedOffsets == committedWhileDown, "nothing may be committed while the dependency is down")

        try await offThePool(start)
        let allCommitted = try await waitForCommitted(ends, timeout: .seconds(90))
        #expect(allCommitted)
        #expect(!running.application.service.isPaused)
        #expect(try await running.metrics().sum("streamrec_processor_paused") == 0)
        await running.stop()
        return OutageRun(catalog: catalog, interactions: before + during, ends: ends)
    }

    /// This fixture's Redis data equals a clean single pass over the same topics (another group, another
    /// key prefix, catalog loaded first).
    func expectRedisEqualsCleanPass(after run: OutageRun, redis: RedisClient) async throws {
        let clean = try await secondPass(catalog: run.catalog)
        _ = try await clean.runUntilCommitted(run.ends)
        let expected = try await clean.redisSnapshot(redis)
        #expect(expected.count > 100)
        let actual = try await redisSnapshot(redis)
        let differing = Set(expected.keys).union(actual.keys).filter { expected[$0] != actual[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) keys differ, e.g. \(differing.prefix(3).map { "\($0): clean \(expected[$0] ?? "absent") vs \(actual[$0] ?? "absent")" })")
        try await clean.cleanUp(redis)
    }

    /// The catalog tables as the processor wrote them: movie id → title, poll id → question.
    func storedCatalog() async throws -> (movies: [String: String], polls: [String: String]) {
        // The processor's own PostgreSQL and search path (a test may give it a private server).
        let postgres = PostgresClient(configuration: configuration.postgres)
        var movies: [String: String] = [:]
        var polls: [String: String] = [:]
        for row in try await postgres.query("SELECT item_id, title FROM movies") {
            movies[try row.decode(0, as: String.self)] = try row.decode(1, as: String.self)
        }
        for row in try await postgres.query("SELECT poll_id, question FROM polls") {
            polls[try row.decode(0, as: String.self)] = try row.decode(1, as: String.self)
        }
        await postgres.shutdown()
        return (movies, polls)
    }

    /// The same fixture with its consumer and producer on `broker` (a test's own, to restart).
    func onPrivateBroker(_ broker: PrivateBroker) -> ProcessorFixture {
        var fixture = self
        fixture.configuration.consumer.bootstrapServers = broker.bootstrapServers
        fixture.configuration.producer.bootstrapServers = broker.bootstrapServers
        return fixture
    }

    /// The event topics and the dead-letter topic, one partition each, on `broker` (what the gateway's
    /// readiness loop does after an empty restart).
    func createTopics(on broker: PrivateBroker) async throws {
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: broker.bootstrapServers))
        _ = try await admin.createTopics((topics.all + [deadLetterTopic]).map { KafkaTopicSpecification(name: $0, partitions: 1) })
        await admin.shutdown()
    }

    /// `count` likes of `item`, each from a user of its own.
    static func likes(_ item: String, _ count: Int, at time: Int64) -> [Event] {
        (0..<count).map { Event(eventID: EventID.random(), type: .movieLike, userID: "\(item)-fan\($0)", subjectID: item, occurredAt: EventTimestamp(millisecondsSinceEpoch: time)) }
    }

    func storedInteractions() async throws -> Int {
        let postgres = PostgresClient(configuration: configuration.postgres)  // its search path names the schema
        let count = try await postgres.query("SELECT count(*) FROM interactions")[0].decode(0, as: Int.self)
        await postgres.shutdown()
        return count
    }

    func redisSnapshot(_ redis: RedisClient) async throws -> [String: String] {
        let prefix = configuration.features.keyPrefix
        return Dictionary(uniqueKeysWithValues: try await RedisSnapshot.take(redis, prefix: prefix + ":", omittingKeysExpiringBefore: snapshotCutoff).map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }

    /// Drops the schema and the Redis keys (topics stay: the broker is memory-only and per test run).
    func cleanUp(_ redis: RedisClient) async throws {
        try await RedisSnapshot.delete(redis, prefix: configuration.features.keyPrefix + ":")
        try await TestStack.dropSchema(schema)
    }
}

struct ProcessorRun {
    let application: ProcessorApplication
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let port: Int

    /// GET of one of the operational routes (a run started with `http: true`); status and body.
    func get(_ path: String) async throws -> (status: Int, body: String) {
        var lastError: (any Error)?
        for _ in 0..<50 {  // until the HTTP service listens
            do {
                return try await HTTPConnection.connect(host: "127.0.0.1", port: port).session { try await $0(.GET, path, [], nil) }
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError!
    }

    func metrics() async throws -> PrometheusSamples { PrometheusSamples(try await get("/metrics").body) }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        await application.shutdown()
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
