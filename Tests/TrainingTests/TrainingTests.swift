import Datasets
import Events
import Features
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ClientRuntime
import Kafka
import LoadGeneration
import Logging
import ModelStore
import Postgres
import StackTestSupport
import Synchronization
import Testing
import Training

/// Attempts reported by a schedule (success or not), read by the test while the schedule runs.
final class Attempts: Sendable {
    private let counts = Mutex((successes: 0, failures: 0))
    func record(_ succeeded: Bool) { counts.withLock { succeeded ? ($0.successes += 1) : ($0.failures += 1) } }
    var successes: Int { counts.withLock { $0.successes } }
    var failures: Int { counts.withLock { $0.failures } }
}

/// A schema and an artifact directory of the test's own, with migrations applied.
struct TrainingFixture {
    let schema = TestStack.uniqueName("train")
    let postgres: PostgresClient
    var configuration: TrainerConfiguration

    init() async throws {
        let postgresConfiguration = try await TestStack.createSchema(schema)
        postgres = PostgresClient(configuration: postgresConfiguration)
        configuration = try Self.configuration(postgres: postgresConfiguration, artifacts: NSTemporaryDirectory() + schema)
        _ = try await PostgresMigrator(directory: configuration.migrationsDirectory).migrate(postgres)
    }

    /// Small models on `postgres`: the tests check the pipeline, the benchmarks check quality.
    static func configuration(postgres: PostgresConfiguration, artifacts: String) throws -> TrainerConfiguration {
        var configuration = TrainerConfiguration(
            postgres: postgres, producer: KafkaProducerConfiguration(bootstrapServers: try TestStack.kafkaBrokers(), clientID: "training-tests")
        )
        configuration.artifactsDirectory = artifacts
        configuration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        configuration.parameters.alsFactors = 8
        configuration.parameters.alsIterations = 4
        configuration.parameters.alsRegularization = 1
        configuration.parameters.alsAlpha = 10
        configuration.parameters.ratingFactors = 4
        return configuration
    }

    func run(announce: @escaping @Sendable (ModelManifest, String) async throws -> Void = { _, _ in }) -> TrainingRun {
        var logger = Logger(label: "training-tests")
        logger.logLevel = .warning
        return TrainingRun(configuration: configuration, postgres: postgres, logger: logger, announce: announce)
    }

    func finish() async throws {
        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
        try? FileManager.default.removeItem(atPath: configuration.artifactsDirectory)
    }

    static func smallPolls() -> SyntheticPolls {
        var polls = SyntheticPolls.Configuration()
        polls.users = 400
        polls.polls = 120
        polls.medianUsersPerPoll = 24
        polls.meanUsersPerPoll = 31
        return SyntheticPolls(configuration: polls)
    }
}

@Suite("Trainer against the real PostgreSQL and broker", .serialized)
struct TrainingTests {
    @Test("MovieLens 100K (fetched by scripts/fetch-data.sh) loads into PostgreSQL, and loading again adds nothing")
    func bootstrapMovieLens() async throws {
        let fixture = try await TrainingFixture()
        let directory = TestStack.repositoryRoot + "/data/ml-100k"
        let layout = try #require(Bootstrap.detectLayout(directory: directory), "run scripts/fetch-data.sh (make test does)")
        let (movies, ratings) = try Bootstrap.readMovieLens(directory: directory, layout: layout)
        #expect(movies.count == 1682)
        #expect(ratings.count == 100_000)
        let bootstrap = Bootstrap(store: TrainingStore(postgres: fixture.postgres))
        #expect(try await bootstrap.load(dataset: "ml-100k", movies: movies, ratings: ratings) == 100_000)
        #expect(try await bootstrap.load(dataset: "ml-100k", movies: movies, ratings: ratings) == 0)
        let rows = try await fixture.postgres.query("SELECT count(*), count(DISTINCT user_id), min(occurred_at) FROM interactions WHERE domain = 'movie'")
        #expect(try rows[0].decode(0, as: Int.self) == 100_000)
        #expect(try rows[0].decode(1, as: Int.self) == 943)
        let toyStory = try await fixture.postgres.query("SELECT title, year, genres FROM movies WHERE item_id = '1'")
        #expect(try toyStory[0].decode(0, as: String.self) == "Toy Story")
        #expect(try toyStory[0].decode(1, as: Int.self) == 1995)
        #expect(try toyStory[0].decode(2, as: [String].self) == ["Animation", "Children's", "Comedy"])
        try await fixture.finish()
    }

    @Test("Train from the store: artifact written and verified, registered, promoted, model-updated seen by a consumer; beats popularity")
    func trainPromoteAnnounce() async throws {
        var fixture = try await TrainingFixture()
        fixture.configuration.modelUpdatedTopic = TestStack.uniqueName("model-updated")
        let data = TrainingFixture.smallPolls()
        _ = try await Bootstrap(store: TrainingStore(postgres: fixture.postgres)).load(polls: data)
        let configuration = fixture.configuration
        let announcer = ModelUpdateAnnouncer(producer: configuration.producer, topic: configuration.modelUpdatedTopic, logger: Logger(label: "training-tests"))
        let run = fixture.run { manifest, path in try await announcer.announce(manifest, path: path) }
        let summary = try await run.train(domain: "polls", force: false, codeRevision: "test")
        #expect(summary.decision == .promoted(replacing: nil))
        let artifact = try run.artifacts.read(path: summary.path)
        #expect(artifact.manifest == summary.manifest)
        let bundle = try ModelBundle.decode(artifact.payload)
        #expect(bundle.itemIDs.count == 120)
        #expect(bundle.ratings == nil)
        let metrics = summary.manifest.metrics
        #expect((metrics["ndcg@10"] ?? 0) > (metrics["popularity.ndcg@10"] ?? 1), "latent factors vs popularity on the synthetic polls: \(metrics)")
        #expect(FileManager.default.fileExists(atPath: summary.reportPath))
        let production = try await run.registry.production(domain: "polls")
        #expect(production?.version == summary.manifest.version)
        #expect(production?.sha256 == artifact.payloadSHA256)

        // The announcement, as an API instance would see it.
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: try TestStack.kafkaBrokers(), groupID: TestStack.uniqueName("api"), sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1)
        ))
        try consumer.subscribe(topics: [configuration.modelUpdatedTopic])
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            await consumer.close()
        }
        var iterator = consumer.batches.makeAsyncIterator()
        let batch = try await iterator.next() ?? []
        watchdog.cancel()
        await consumer.close()
        let record = try #require(batch.first)
        #expect(record.key == Array("polls".utf8))
        let announced = try JSONParser.parse(record.value)
        let expected = ModelUpdateAnnouncer.message(for: summary.manifest, path: summary.path)
        // Member order is the writer's business: compare as dictionaries.
        func members(_ value: JSONValue) -> [String: JSONValue] {
            guard case .object(let pairs) = value else { return [:] }
            return Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) })
        }
        #expect(members(announced) == members(expected), "\(String(decoding: record.value, as: UTF8.self))")
        #expect(members(announced)["version"] == .string(summary.manifest.version))
        try await fixture.finish()
    }

    @Test("Promotion gate both ways, --force, and rollback")
    func promotionGateAndRollback() async throws {
        let fixture = try await TrainingFixture()
        let registry = ModelRegistry(postgres: fixture.postgres)
        func register(_ version: String, ndcg: Double) async throws {
            let manifest = ModelManifest(
                kind: "poll-bundle", domain: "polls", version: version, createdAt: EventTimestamp(millisecondsSinceEpoch: 1_795_000_000_000),
                dataRows: 1, dataMaxEventTime: nil, dataContentHash: "x", hyperParameters: [:], metrics: ["ndcg@10": ndcg], codeRevision: "test"
            )
            try await registry.register(manifest, path: "/artifacts/\(version)", sha256: "00")
        }
        try await register("polls-1", ndcg: 0.20)
        #expect(try await registry.promote("polls-1", metric: "ndcg@10", tolerance: 0.02, force: false) == .promoted(replacing: nil))
        try await register("polls-2", ndcg: 0.15)
        guard case .rejected = try await registry.promote("polls-2", metric: "ndcg@10", tolerance: 0.02, force: false) else {
            Issue.record("a clearly worse model must not be promoted")
            return
        }
        #expect(try await registry.production(domain: "polls")?.version == "polls-1")
        try await register("polls-3", ndcg: 0.197)  // within 2 %
        #expect(try await registry.promote("polls-3", metric: "ndcg@10", tolerance: 0.02, force: false) == .promoted(replacing: "polls-1"))
        #expect(try await registry.promote("polls-2", metric: "ndcg@10", tolerance: 0.02, force: true) == .promoted(replacing: "polls-3"))
        #expect(try await registry.entry("polls-1")?.status == .archived)
        await #expect(throws: RegistryError.self) { try await registry.promote("polls-1", metric: "ndcg@10", tolerance: 0.02, force: false) }

        let restored = try await registry.rollback(domain: "polls")
        #expect(restored.version == "polls-3")
        #expect(try await registry.production(domain: "polls")?.version == "polls-3")
        #expect(try await registry.entry("polls-2")?.status == .archived)
        #expect(try await registry.list(domain: "polls").filter { $0.status == .production }.count == 1)
        try await fixture.finish()
    }

    @Test("The schedule survives a failing run and keeps training the other domain")
    func scheduleSurvivesFailures() async throws {
        let fixture = try await TrainingFixture()
        _ = try await Bootstrap(store: TrainingStore(postgres: fixture.postgres)).load(polls: TrainingFixture.smallPolls())
        var logger = Logger(label: "training-tests")
        logger.logLevel = .critical
        // "movies" has no data in this schema: that run fails every time.
        let schedule = TrainingSchedule(run: fixture.run(), domains: ["movies", "polls"], interval: .seconds(3600), codeRevision: "test", logger: logger)
        #expect(await schedule.round() == 1)
        #expect(await schedule.round() == 1)
        let versions = try await ModelRegistry(postgres: fixture.postgres).list(domain: "polls")
        #expect(versions.count == 2)
        #expect(versions.filter { $0.status == .production }.count == 1)
        try await fixture.finish()
    }

    @Test("PostgreSQL down: the scheduled run fails cleanly (no artifact, no registry entry) and is retried after the backoff, not the interval; it succeeds once PostgreSQL is back")
    func scheduleRetriesAfterPostgresOutage() async throws {
        let server = try await offThePool { try PrivatePostgres() }
        defer { try? server.remove() }
        let configuration = try TrainingFixture.configuration(
            postgres: server.configuration, artifacts: NSTemporaryDirectory() + TestStack.uniqueName("artifacts")
        )
        defer { try? FileManager.default.removeItem(atPath: configuration.artifactsDirectory) }
        let postgres = PostgresClient(configuration: server.configuration)
        _ = try await PostgresMigrator(directory: configuration.migrationsDirectory).migrate(postgres)
        _ = try await Bootstrap(store: TrainingStore(postgres: postgres)).load(polls: TrainingFixture.smallPolls())

        var logger = Logger(label: "training-tests")
        logger.logLevel = .critical
        let attempts = Attempts()
        let run = TrainingRun(configuration: configuration, postgres: postgres, logger: logger) { _, _ in }
        try await offThePool { try server.stop() }
        // A one-hour interval: only the retry backoff (0.5 s, doubling, at most 1 s) can bring a second attempt.
        let schedule = TrainingSchedule(
            run: run, domains: ["polls"], interval: .seconds(3600), retry: Backoff(initial: .milliseconds(500), maximum: .seconds(1)),
            codeRevision: "test", logger: logger, onAttempt: { _, succeeded in attempts.record(succeeded) }
        )
        let task = Task { try await schedule.run() }
        let failuresDeadline = ContinuousClock.now + .seconds(30)
        while attempts.failures < 3, ContinuousClock.now < failuresDeadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(attempts.failures >= 3, "retried while PostgreSQL is down")
        #expect(attempts.successes == 0)
        let files = (FileManager.default.subpaths(atPath: configuration.artifactsDirectory) ?? []).filter { $0.hasPrefix("polls/") }
        #expect(files.isEmpty, "no artifact from a failed run: \(files)")

        try await offThePool { try server.start() }
        let successDeadline = ContinuousClock.now + .seconds(60)
        while attempts.successes == 0, ContinuousClock.now < successDeadline { try await Task.sleep(for: .milliseconds(100)) }
        task.cancel()
        _ = try? await task.value
        #expect(attempts.successes == 1)
        let versions = try await ModelRegistry(postgres: postgres).list(domain: "polls")
        #expect(versions.count == 1 && versions[0].status == .production)
        await postgres.shutdown()
    }

    @Test("A dataset replayed through the real gateway binary: moved into the accepted age window, every event accepted")
    func replayThroughTheGateway() async throws {
        let port = TestStack.freePort()
        let name = TestStack.uniqueName("replay")
        let key = "replay-key-\(UUID().uuidString)"
        let environment = TestStack.gatewayEnvironment(port: port, apiKey: key, movieTopic: "\(name)-movie", pollTopic: "\(name)-poll")
        let log = NSTemporaryDirectory() + "\(name).log"
        let pid = try TestStack.spawnInBackground([TestStack.executable("ingest-gateway")], environment: environment, outputPath: log)
        defer {
            kill(pid, SIGKILL)
            try? FileManager.default.removeItem(atPath: log)
        }
        let events = Bootstrap.events(polls: TrainingFixture.smallPolls())
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let interactions = Array(EventReplay.retimed(events.interactions, now: now, horizon: 29 * 86_400_000).prefix(3000))
        #expect(interactions.allSatisfy { now - $0.occurredAt.millisecondsSinceEpoch <= 29 * 86_400_000 })
        var outcome = EventReplay.Outcome()
        for _ in 0..<100 {  // until the gateway listens
            if let result = try? await EventReplay.replay(interactions.prefix(1).map { $0 }, host: "127.0.0.1", port: port, apiKey: key) {
                outcome = result
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(outcome.accepted == 1)
        let rest = try await EventReplay.replay(Array(interactions.dropFirst()), host: "127.0.0.1", port: port, apiKey: key, batchSize: 250)
        #expect(rest == EventReplay.Outcome(accepted: interactions.count - 1, rejected: 0, failedRequests: 0))
        // The original 90-day-old times would be refused by the gateway's age check.
        let old = try await EventReplay.replay([events.interactions.min { $0.occurredAt < $1.occurredAt }!], host: "127.0.0.1", port: port, apiKey: key)
        #expect(old.rejected == 1)
    }
}

@Suite("Training history window")
struct TrainingHistoryWindowTests {
    @Test("trainer.history_window: only interactions that recent are read for training; 0 (unset) reads all")
    func historyWindowLimitsTheRowsRead() async throws {
        var fixture = try await TrainingFixture()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let day: Int64 = 86_400_000
        let events = [(2, "recent-1"), (4, "recent-2"), (10, "old-1"), (40, "old-2")].enumerated().map { index, pair in
            FeatureEvent(
                event: Event(eventID: EventID.random(), type: .pollVote, userID: "u\(index)", subjectID: pair.1,
                    occurredAt: EventTimestamp(millisecondsSinceEpoch: now - Int64(pair.0) * day), payload: .vote(optionID: "a")),
                position: RecordPosition(topic: "t", partition: 0, offset: Int64(index)), groups: []
            )
        }
        #expect(try await TrainingStore(postgres: fixture.postgres).append(events) == 4)
        #expect(Set(try await fixture.run().readRows(domain: "polls").map(\.item)) == ["recent-1", "recent-2", "old-1", "old-2"])
        fixture.configuration.historyWindow = .seconds(7 * 86_400)
        #expect(Set(try await fixture.run().readRows(domain: "polls").map(\.item)) == ["recent-1", "recent-2"])
        await fixture.postgres.shutdown()
        try await TestStack.dropSchema(fixture.schema)
    }
}

/// Versions read from the model-updated topic, by the reading task.
final class Announcements: Sendable {
    let versions = Mutex<[String]>([])
}

/// The `trainer` binary's commands as an operator runs them: train, list, rollback, promote, each
/// promotion announced on the model-updated topic (what makes every API instance reload).
@Suite("trainer command line")
struct TrainerCommandLineTests {
    @Test("train twice, list, rollback, promote (archived refused, gate refused, forced): exit codes, the registry's states and one model-updated announcement per production change, in order; bad usage exits 64")
    func trainListRollbackPromote() async throws {
        let fixture = try await TrainingFixture()
        _ = try await Bootstrap(store: TrainingStore(postgres: fixture.postgres)).load(polls: TrainingFixture.smallPolls())
        let topic = TestStack.uniqueName("model-updated")
        var environment = TestStack.environment
        environment["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        environment["STREAMREC_POSTGRES_SCHEMA"] = fixture.schema
        environment["STREAMREC_POSTGRES_MIGRATIONS_DIR"] = fixture.configuration.migrationsDirectory
        environment["STREAMREC_TRAINER_ARTIFACTS_DIR"] = fixture.configuration.artifactsDirectory
        environment["STREAMREC_TOPICS_MODEL_UPDATED"] = topic
        environment["STREAMREC_TRAINING_ALS_FACTORS"] = "8"
        environment["STREAMREC_TRAINING_ALS_ITERATIONS"] = "4"
        environment["STREAMREC_LOG_LEVEL"] = "warning"
        // A training run takes seconds: waited for off the cooperative pool, which other tests need meanwhile.
        // The environment as it is at the call (the test changes it between runs).
        func trainer(_ arguments: String...) async throws -> (status: Int32, output: String) {
            let current = environment
            return try await offThePool { try TestStack.spawnAndWait([TestStack.executable("trainer")] + arguments, environment: current) }
        }

        let first = try await trainer("train", "--domain", "polls")
        #expect(first.status == 0 && first.output.contains("promoted polls-"), "\(first.output)")
        let second = try await trainer("train", "--domain", "polls")
        #expect(second.status == 0 && second.output.contains("(replacing "), "\(second.output)")  // same data, same metric: within tolerance
        let registry = ModelRegistry(postgres: fixture.postgres)
        // In the order trained: two runs can finish within the same second, and a version's name orders only
        // to the second (its suffix is random).
        let versions = try await registry.list(domain: "polls").sorted { ($0.createdAt, $0.version) < ($1.createdAt, $1.version) }.map(\.version)
        try #require(versions.count == 2)
        let (older, newer) = (versions[0], versions[1])
        #expect(try await registry.production(domain: "polls")?.version == newer)

        let listed = try await trainer("list", "--domain", "polls")
        #expect(listed.status == 0)
        #expect(listed.output.split(separator: "\n").contains { $0.contains(newer) && $0.contains("\tproduction\t") }, "\(listed.output)")

        let rollback = try await trainer("rollback", "--domain", "polls")
        #expect(rollback.status == 0 && rollback.output.contains("rolled back polls to \(older)"), "\(rollback.output)")
        #expect(try await registry.production(domain: "polls")?.version == older)
        // The version rolled back from is archived: not promoted again (its artifact may be pruned).
        let archived = try await trainer("promote", "--version", newer)
        #expect(archived.status == 65 && archived.output.contains("archived, not a candidate"), "status \(archived.status): \(archived.output)")
        // A stricter gate (must beat production by 50 %): the next run stays a candidate; promoting it is
        // refused (exit 1) unless forced.
        environment["STREAMREC_TRAINER_PROMOTION_TOLERANCE"] = "-0.5"
        let third = try await trainer("train", "--domain", "polls")
        #expect(third.status == 0 && third.output.contains("kept production"), "\(third.output)")
        let candidate = try #require(try await registry.list(domain: "polls").first { $0.status == .candidate }?.version)
        let gated = try await trainer("promote", "--version", candidate)
        #expect(gated.status == 1 && gated.output.contains("rejected"), "status \(gated.status): \(gated.output)")
        #expect(try await registry.production(domain: "polls")?.version == older)
        let forced = try await trainer("promote", "--version", candidate, "--force")
        #expect(forced.status == 0 && forced.output.contains("\(candidate): promoted"), "status \(forced.status): \(forced.output)")
        #expect(try await registry.production(domain: "polls")?.version == candidate)

        #expect(try await trainer("promote").status == 64)
        #expect(try await trainer("rollback").status == 64)
        #expect(try await trainer("no-such-command").status == 64)

        // Every production change was announced, in order: train, train, rollback, forced promote.
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: try TestStack.kafkaBrokers(), groupID: TestStack.uniqueName("announcements"), autoOffsetReset: .earliest
        ))
        try consumer.subscribe(topics: [topic])
        let seen = Announcements()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await batch in consumer.batches {
                    for record in batch {
                        if case .object(let members)? = try? JSONParser.parse(record.value),
                            case .string(let version)? = members.first(where: { $0.key == "version" })?.value
                        {
                            seen.versions.withLock { $0.append(version) }
                        }
                    }
                    if seen.versions.withLock({ $0.count }) >= 4 { break }
                }
            }
            group.addTask { try await Task.sleep(for: .seconds(30)) }
            try await group.next()
            group.cancelAll()
        }
        let announced = seen.versions.withLock { $0 }
        await consumer.close()
        #expect(announced == [older, newer, older, candidate])
        await fixture.postgres.shutdown()
        try await TestStack.dropSchema(fixture.schema)
    }
}

@Suite("trainer bootstrap --interactions: your own TSV/CSV")
struct InteractionsFileTests {
    @Test("movies: a header allowed, tab or comma separated, ids kept verbatim; loading the same file twice gives the same event ids")
    func movies() throws {
        let text = "user,item,rating,timestamp\nu1,m1,4.5,1700000000\n\nu2,m|2,3,1700000100\n"
        let events = try Bootstrap.events(interactions: text, file: "mine.csv", domain: .movie)
        #expect(events.interactions.map(\.userID) == ["u1", "u2"])
        #expect(events.interactions.map(\.subjectID) == ["m1", "m|2"])
        #expect(events.interactions.map(\.payload) == [.rating(4.5), .rating(3)])
        #expect(events.interactions[0].occurredAt.millisecondsSinceEpoch == 1_700_000_000_000)
        #expect(try Bootstrap.events(interactions: text.replacingOccurrences(of: ",", with: "\t"), file: "mine.tsv", domain: .movie).interactions.count == 2)
        #expect(try Bootstrap.events(interactions: text, file: "mine.csv", domain: .movie).interactions.map(\.eventID) == events.interactions.map(\.eventID))
    }

    @Test("a bad line is an error naming file:line (blank lines counted, as an editor numbers them)")
    func badLines() {
        for (text, line) in [
            ("u1\tm1\t4\t1700000000\n\nu2\tm2\tseven\t1700000000\n", 3),
            ("u1\tm1\t4\t1700000000\nu2\tm2\t9\t1700000000\n", 2),
            ("u1\tm1\t4\t1700000000\nu2\tm2\t4\tyesterday\n", 2),
        ] {
            #expect(throws: DatasetFileError.self, "\(text)") { try Bootstrap.events(interactions: text, file: "mine.tsv", domain: .movie) }
            do {
                _ = try Bootstrap.events(interactions: text, file: "mine.tsv", domain: .movie)
            } catch {
                #expect(error.file == "mine.tsv" && error.line == line, "\(error)")
            }
        }
        #expect(throws: DatasetFileError.self) { try Bootstrap.events(interactions: "user\titem\trating\ttimestamp\n", file: "empty.tsv", domain: .movie) }
    }

    @Test("polls: each line a vote, the third column the option")
    func polls() throws {
        let events = try Bootstrap.events(interactions: "user\tpoll\toption\ttimestamp\nu1\tp1\ta|b\t1700000000\n", file: "votes.tsv", domain: .poll)
        #expect(events.interactions.map(\.type) == [.pollVote])
        #expect(events.interactions.first?.payload == .vote(optionID: "a|b"))
        #expect(throws: DatasetFileError.self) { try Bootstrap.events(interactions: "u1\tp1\t1700000000\n", file: "votes.tsv", domain: .poll) }
    }
}
