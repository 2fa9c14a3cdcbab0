import Events
import Features
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import Inference
import Postgres
import Redis
import ServiceConfiguration
import ServiceSupport
import Training
import Datasets
import Kafka
import Logging
import ServiceLifecycle
import Serving
import ServiceSupport
import ServingTestSupport
import StackTestSupport
import Synchronization
import Testing

@Suite("Inference API routes against Redis and PostgreSQL", .serialized)
struct InferenceRoutesTests {
    /// The API's configuration against the test stack, reading Redis over event loops as
    /// configs/inference-api.conf does.
    static func apiConfiguration(postgres: PostgresConfiguration) throws -> InferenceConfiguration {
        var redis = try TestStack.redisConfiguration()
        redis.io = .eventLoops
        return InferenceConfiguration(
            redis: redis, postgres: postgres,
            consumer: KafkaConsumerConfiguration(bootstrapServers: try TestStack.kafkaBrokers(), groupID: TestStack.uniqueName("api"))
        )
    }

    static let adminToken = "admin-token-0123456789abcdef"

    func withApplication(_ body: @Sendable (PollsModelFixture, any TestClientProtocol) async throws -> Void) async throws {
        let fixture = try await PollsModelFixture()
        _ = try await fixture.repository.reload(domain: .poll)
        let catalog = CatalogMetadata()
        try await catalog.refresh(from: fixture.postgres)
        let service = InferenceService(
            engine: fixture.engine, features: fixture.engine.features, catalog: catalog, models: fixture.repository, adminToken: Self.adminToken,
            clock: { Int64(Date().timeIntervalSince1970 * 1000) }
        )
        let router = Router()
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        InferenceRoutes.add(to: router, service: service)
        try await Application(router: router).test(.router) { client in try await body(fixture, client) }
        try await fixture.finish()
    }

    /// The response body as a JSON object; empty if it is not one (the expectations then fail).
    static func json(_ response: TestResponse) -> [String: JSONValue] {
        guard case .object(let members)? = try? JSONParser.parse(Array(response.body.readableBytesView)) else { return [:] }
        return Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value) })
    }

    /// `/readyz` while one dependency is down: 200 `degraded` (keep sending traffic), naming the failing check.
    static func expectDegraded(_ client: any TestClientProtocol, failing: String, healthy: String) async throws {
        try await client.execute(uri: "/readyz", method: .get) { response in
            #expect(response.status == .ok)
            let body = json(response)
            #expect(body["status"] == .string("degraded"))
            guard case .object(let checks)? = body["checks"] else { Issue.record("no checks"); return }
            #expect(checks.first { $0.key == failing }?.value != .string("ok"))
            #expect(checks.first { $0.key == healthy }?.value == .string("ok"))
        }
    }

    static func errorField(_ response: TestResponse) -> String? {
        guard case .object(let error)? = json(response)["error"], case .string(let field)? = error.first(where: { $0.key == "field" })?.value else { return nil }
        return field
    }

    @Test("recommendations: strategy, metadata, validation with the field at fault")
    func recommendations() async throws {
        try await withApplication { fixture, client in
            try await client.execute(uri: "/v1/users/u0/recommendations?domain=polls&k=5", method: .get) { response in
                #expect(response.status == .ok)
                let body = Self.json(response)
                #expect(body["strategy"] == .string("personalised"))
                guard case .array(let items)? = body["items"] else { Issue.record("no items"); return }
                #expect(items.count == 5)
                if case .object(let first)? = items.first {
                    #expect(first.contains { $0.key == "question" } && first.contains { $0.key == "options" })
                }
            }
            try await client.execute(uri: "/v1/users/nobody-at-all/recommendations?domain=polls&k=3", method: .get) { response in
                #expect(Self.json(response)["strategy"] == .string("popular"))
            }
            // Reasons: a newcomer who voted on p3 gets items "because you engaged with" p3.
            try await fixture.vote("newcomer", "p3", at: Int64(Date().timeIntervalSince1970 * 1000), offset: 0)
            try await client.execute(uri: "/v1/users/newcomer/recommendations?domain=polls&k=5&reasons=true", method: .get) { response in
                let body = Self.json(response)
                #expect(body["strategy"] == .string("fold-in"))
                guard case .array(let items)? = body["items"] else { Issue.record("no items"); return }
                let reasons = items.compactMap { item -> [(key: String, value: JSONValue)]? in
                    guard case .object(let members) = item, case .object(let reason)? = members.first(where: { $0.key == "reason" })?.value else { return nil }
                    return reason
                }
                #expect(!reasons.isEmpty)
                #expect(reasons.allSatisfy { $0.first { $0.key == "item_id" }?.value == .string("p3") })
                #expect(reasons.allSatisfy { if case .string(let text)? = $0.first(where: { $0.key == "text" })?.value { text.hasPrefix("because you") } else { false } })
            }
            for (uri, field) in [
                ("/v1/users/u0/recommendations?domain=polls&k=0", "k"), ("/v1/users/u0/recommendations?k=101", "k"),
                ("/v1/users/u0/recommendations?k=9999999999999999999999", "k"), ("/v1/users/u0/recommendations?domain=books", "domain"),
                ("/v1/users/u0/recommendations?exclude_seen=maybe", "exclude_seen"), ("/v1/users/%7Bx%7D/recommendations", "user_id"),
            ] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(Self.errorField(response) == field, "\(uri)")
                }
            }
        }
    }

    @Test("items written straight to bytes say the same as the JSON-tree description: metadata, unknown items, reasons")
    func itemsWrittenDirectlyMatchTheTree() async throws {
        let fixture = try await PollsModelFixture()
        let catalog = CatalogMetadata()
        try await catalog.refresh(from: fixture.postgres)
        let items = [ScoredItem(item: "p1", score: 0.75), ScoredItem(item: "not-in-the-catalog", score: -1.5e-7), ScoredItem(item: "p2", score: 3)]
        let because = ["p1": "p3", "p2": "unknown-reason"]
        var writer = JSONWriter()
        ItemJSON.writeItems(&writer, .poll, items[...], catalog: catalog, because: because)
        let direct = try JSONParser.parse(writer.bytes)
        let tree = JSONValue.array(items.map { ItemJSON.item(.poll, $0, catalog: catalog, because: because[$0.item]) })
        // Member order differs (the fragments are pre-encoded); the sorted encodings must be identical.
        #expect(JSONResponse.encode(direct) == JSONResponse.encode(tree))
        guard case .array(let parsed) = direct, case .object(let first) = parsed[0] else { Issue.record("not an array of objects"); return }
        #expect(first.contains { $0.key == "question" } && first.contains { $0.key == "reason" })
        try await fixture.finish()
    }

    @Test("PostgreSQL stopped while serving: answers keep their metadata and models, /readyz says degraded; back: ready again, and the catalog listener reconnects (a poll written then arrives by NOTIFY)")
    func postgresOutageWhileServing() async throws {
        let server = try await offThePool { try PrivatePostgres() }
        defer { try? server.remove() }
        var logger = Logger(label: "inference-tests")
        logger.logLevel = .critical
        let artifacts = NSTemporaryDirectory() + TestStack.uniqueName("artifacts")
        defer { try? FileManager.default.removeItem(atPath: artifacts) }
        // A polls model in the private server's registry.
        let postgres = PostgresClient(configuration: server.configuration)
        var trainer = try TrainerConfiguration.small(schema: "public", postgres: server.configuration)
        trainer.artifactsDirectory = artifacts
        _ = try await PostgresMigrator(directory: trainer.migrationsDirectory).migrate(postgres)
        _ = try await Bootstrap(store: TrainingStore(postgres: postgres)).load(polls: TrainingFixtureData.smallPolls())
        _ = try await TrainingRun(configuration: trainer, postgres: postgres, logger: logger) { _, _ in }.train(domain: "polls", force: false, codeRevision: "test")
        await postgres.shutdown()

        var configuration = try Self.apiConfiguration(postgres: server.configuration)
        configuration.migrationsDirectory = trainer.migrationsDirectory
        configuration.features.keyPrefix = TestStack.uniqueName("api") + ":v1"
        // No periodic re-read: after the restart, a new poll can only arrive through the catalog listener.
        configuration.metadataRefresh = .seconds(600)
        let application = try await InferenceApplication.start(configuration: configuration, metrics: ServiceMetrics(), logger: logger)
        let refresher = ServiceGroup(configuration: .init(services: [application.refresher], logger: logger))
        let refreshing = Task { try await refresher.run() }
        try await Application(router: application.router()).test(.router) { client in
            func check(_ state: String) async throws {
                try await client.execute(uri: "/v1/users/u1/recommendations?domain=polls&k=3", method: .get) { response in
                    #expect(response.status == .ok, "\(state)")
                    let body = Self.json(response)
                    #expect(body["strategy"] == .string("personalised"), "\(state)")
                    guard case .array(let items)? = body["items"], case .object(let first)? = items.first else { Issue.record("no items \(state)"); return }
                    #expect(first.contains { $0.key == "question" }, "metadata from the cache, \(state)")
                }
                try await client.execute(uri: "/v1/models", method: .get) { response in
                    guard case .array(let models)? = Self.json(response)["models"] else { Issue.record("no models \(state)"); return }
                    #expect(models.count == 1, "\(state)")
                }
            }
            try await check("PostgreSQL up")
            try await offThePool { try server.stop() }
            try await check("PostgreSQL down")
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["status"] == .string("degraded"))
            }
            let notifiedBeforeRestart = application.refresher.notifiedRefreshes.load(ordering: .relaxed)
            try await offThePool { try server.start() }
            try await check("PostgreSQL back")
            var ready = false
            for _ in 0..<50 where !ready {
                try await client.execute(uri: "/readyz", method: .get) { response in ready = Self.json(response)["status"] == .string("ready") }
                if !ready { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(ready, "/readyz ready again once PostgreSQL is back")

            // The catalog listener's session died with the server; it reconnects by itself (and re-reads once,
            // which counts as a notified refresh), and a poll written afterwards, as the processor writes catalog
            // events, reaches the API through NOTIFY alone.
            var reconnected = false
            for _ in 0..<200 where !reconnected {
                reconnected = application.refresher.notifiedRefreshes.load(ordering: .relaxed) > notifiedBeforeRestart
                if !reconnected { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(reconnected, "the catalog listener did not reconnect within 20 s of PostgreSQL's restart")
            let writer = PostgresClient(configuration: server.configuration)
            try await TrainingStore(postgres: writer).upsertCatalog(Event(
                eventID: EventID.random(), type: .pollCreated, userID: "catalog", subjectID: "after-restart",
                occurredAt: EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)),
                payload: .pollCreated(PollDetails(question: "Written after the restart?", options: [PollOption(id: "y", text: "Yes")], category: "testing", author: nil))
            ))
            let written = ContinuousClock.now
            var question: JSONValue?
            while question != .string("Written after the restart?"), ContinuousClock.now - written < .seconds(10) {
                try await client.execute(uri: "/v1/polls/after-restart/results", method: .get) { response in question = Self.json(response)["question"] }
                if question != .string("Written after the restart?") { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(question == .string("Written after the restart?"), "a poll written after PostgreSQL's restart did not reach the API within 10 s")
            await writer.shutdown()
        }
        await refresher.triggerGracefulShutdown()
        _ = try? await refreshing.value
        await application.shutdown()
    }

    @Test("Redis stopped while serving: recommendations from the model alone and the last popular list read, marked degraded; poll results and lists never read 503 with Retry-After; /readyz degraded, not 503; Redis back: fresh answers again")
    func redisOutageWhileServing() async throws {
        let fixture = try await PollsModelFixture()  // a trained polls model in a schema of its own
        let server = try await offThePool { try PrivateRedis() }
        defer { try? server.remove() }
        var logger = Logger(label: "inference-tests")
        logger.logLevel = .critical
        var postgres = try TestStack.postgresConfiguration()
        postgres.searchPath = fixture.schema
        var configuration = try Self.apiConfiguration(postgres: postgres)
        configuration.redis = server.configuration
        configuration.redis.io = .eventLoops
        configuration.redis.connectTimeout = .milliseconds(200)
        configuration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        configuration.features.keyPrefix = fixture.schema + ":v1"
        configuration.popularMaxAge = .zero  // every request reads Redis while it is up
        let features = RedisClient(configuration: server.configuration)
        let writer = FeatureWriter(configuration: configuration.features, redis: features)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let vote = Event(eventID: EventID.random(), type: .pollVote, userID: "voter", subjectID: "p2", occurredAt: EventTimestamp(millisecondsSinceEpoch: now), payload: .vote(optionID: "o0"))
        _ = try await writer.apply([FeatureEvent(event: vote, position: RecordPosition(topic: "t", partition: 0, offset: 0), groups: [])], now: now)
        await features.shutdown()
        let application = try await InferenceApplication.start(configuration: configuration, metrics: ServiceMetrics(), logger: logger)
        try await Application(router: application.router()).test(.router) { client in
            func recommendations(_ user: String, _ state: String) async throws -> (strategy: JSONValue?, degraded: JSONValue?, items: Int) {
                try await client.execute(uri: "/v1/users/\(user)/recommendations?domain=polls&k=3", method: .get) { response in
                    #expect(response.status == .ok, "\(user), \(state)")
                    let body = Self.json(response)
                    guard case .array(let items)? = body["items"] else { return (body["strategy"], body["degraded"], 0) }
                    return (body["strategy"], body["degraded"], items.count)
                }
            }
            func unavailable(_ uri: String) async throws {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .serviceUnavailable, "\(uri)")
                    #expect(response.headers[.retryAfter] != nil, "\(uri)")
                    guard case .object(let error)? = Self.json(response)["error"] else { Issue.record("no error body: \(uri)"); return }
                    #expect(error.first { $0.key == "code" }?.value == .string("features_unavailable"), "\(uri)")
                }
            }
            let liveKnown = try await recommendations("u1", "Redis up")
            #expect(liveKnown.strategy == .string("personalised") && liveKnown.degraded == .bool(false) && liveKnown.items == 3)
            let liveNobody = try await recommendations("nobody", "Redis up")  // reads the 24h popular list
            #expect(liveNobody.strategy == .string("popular") && liveNobody.degraded == .bool(false) && liveNobody.items == 1)

            try await offThePool { try server.stop() }
            let known = try await recommendations("u1", "Redis down")
            #expect(known.strategy == .string("personalised") && known.degraded == .bool(true) && known.items == 3, "the model alone")
            let nobody = try await recommendations("nobody", "Redis down")
            #expect(nobody.strategy == .string("popular") && nobody.degraded == .bool(true) && nobody.items == 1, "the last popular list read")
            try await client.execute(uri: "/v1/popular?domain=polls", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["degraded"] == .bool(true))
            }
            try await unavailable("/v1/popular?domain=polls&window=7d")  // never read: nothing to fall back on
            try await unavailable("/v1/trending?domain=polls")
            try await unavailable("/v1/polls/p2/results")  // tallies are not cached: a stale count would read as live
            try await unavailable("/v1/users/u1/profile?domain=polls")
            try await Self.expectDegraded(client, failing: "redis", healthy: "postgres")

            try await offThePool { try server.start() }  // not persistent: back empty, as after a crash without persistence
            var fresh = false
            for _ in 0..<50 where !fresh {
                let answer = try await recommendations("nobody", "Redis back")
                fresh = answer.degraded == .bool(false)
                if !fresh { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(fresh, "answers not fresh again within 10 s of Redis's restart")
            try await client.execute(uri: "/v1/polls/p2/results", method: .get) { #expect($0.status == .ok) }
            // The readiness probe runs on its own schedule: fresh answers come first, `ready` a probe later
            // (asserting it at once failed on a busy machine). Wait for the condition, not a moment.
            var ready = false
            for _ in 0..<50 where !ready {
                try await client.execute(uri: "/readyz", method: .get) { response in ready = Self.json(response)["status"] == .string("ready") }
                if !ready { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(ready, "/readyz ready again within 10 s of Redis's restart")
        }
        await application.shutdown()
        try await fixture.finish()
    }

    @Test("configs/openapi/inference-api.yaml describes exactly the routes the API serves")
    func openAPIMatchesTheRouter() async throws {
        var logger = Logger(label: "inference-tests")
        logger.logLevel = .critical
        var postgres = try TestStack.postgresConfiguration()
        postgres.port = TestStack.freePort()  // the routes are listed, not called
        postgres.connectTimeout = .milliseconds(200)
        var configuration = try Self.apiConfiguration(postgres: postgres)
        configuration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        let application = try await InferenceApplication.start(configuration: configuration, metrics: ServiceMetrics(), logger: logger)
        let served = Set(application.router().routes.map { "\($0.method) \($0.path)" })
        let documented = try OpenAPIPaths.operations(file: "configs/openapi/inference-api.yaml")
        #expect(served.subtracting(documented).isEmpty, "served but not documented")
        #expect(documented.subtracting(served).isEmpty, "documented but not served")
        #expect(served.count == 20)  // 17, and GET /v1/experiments, POST /v1/admin/experiments, POST /v1/admin/experiments/{id}/stop
        await application.shutdown()
    }

    @Test("inference.popular_window must be one of features.windows; the file and environment set it")
    func popularWindowConfiguration() throws {
        let keys = InferenceConfiguration.Keys.all
        let valid = try InferenceConfiguration(reading: try ConfigReader(keys: keys, fileValues: ["inference.popular_window": "7d"], environment: [:], source: "t"))
        #expect(valid.popularWindow == "7d")
        #expect(try InferenceConfiguration(reading: try ConfigReader(keys: keys, fileValues: [:], environment: [:], source: "t")).popularWindow == "24h")
        #expect(throws: ConfigurationError(key: "inference.popular_window", message: "not one of the windows in features.windows")) {
            try InferenceConfiguration(reading: try ConfigReader(keys: keys, fileValues: [:], environment: ["STREAMREC_INFERENCE_POPULAR_WINDOW": "2h"], source: "t"))
        }
        // Windows without the default 24h: the default popular window is refused, not discovered at the first request.
        #expect(throws: ConfigurationError(key: "inference.popular_window", message: "not one of the windows in features.windows")) {
            try InferenceConfiguration(reading: try ConfigReader(keys: keys, fileValues: ["features.windows": "1h:5m,7d:1h", "features.trending_long_window": "7d"], environment: [:], source: "t"))
        }
    }

    @Test("the API's own defaults: routes pinned to their event loop and Redis read on those loops; still set by the file or environment")
    func oneThreadPerRequestByDefault() throws {
        let keys = InferenceConfiguration.Keys.all
        let defaults = try InferenceConfiguration(reading: try ConfigReader(keys: keys, fileValues: [:], environment: [:], source: "t"))
        #expect(defaults.pinToEventLoop)
        #expect(defaults.redis.io == .eventLoops)
        let overridden = try InferenceConfiguration(
            reading: try ConfigReader(keys: keys, fileValues: ["http.pin_to_event_loop": "false"], environment: ["STREAMREC_REDIS_IO": "threads"], source: "t"))
        #expect(!overridden.pinToEventLoop)
        #expect(overridden.redis.io == .threads)
        // Declared once each: the service's versions replace the shared ones, they are not added beside them.
        #expect(keys.filter { $0.name == "redis.io" }.count == 1)
        #expect(keys.filter { $0.name == "http.pin_to_event_loop" }.count == 1)
    }

    @Test("kafka.statistics_interval and kafka.debug reach the API's model-update consumer (its statistics become gauges as the other services')")
    func consumerStatisticsConfiguration() throws {
        let keys = InferenceConfiguration.Keys.all
        let off = try InferenceConfiguration(reading: try ConfigReader(keys: keys, fileValues: [:], environment: [:], source: "t"))
        #expect(off.consumer.additionalProperties["statistics.interval.ms"] == nil)
        let on = try InferenceConfiguration(
            reading: try ConfigReader(keys: keys, fileValues: ["kafka.statistics_interval": "15s", "kafka.debug": "cgrp"], environment: [:], source: "t"))
        #expect(on.consumer.additionalProperties["statistics.interval.ms"] == "15000")
        #expect(on.consumer.additionalProperties["debug"] == "cgrp")
    }

    @Test("PostgreSQL down at start: the API starts, answers from Redis (popular), and /readyz says degraded, not 503")
    func startsWithPostgresDown() async throws {
        var logger = Logger(label: "inference-tests")
        logger.logLevel = .critical
        var postgres = try TestStack.postgresConfiguration()
        postgres.port = TestStack.freePort()
        postgres.connectTimeout = .milliseconds(500)
        var configuration = try Self.apiConfiguration(postgres: postgres)
        configuration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        configuration.features.keyPrefix = TestStack.uniqueName("api") + ":v1"
        let application = try await InferenceApplication.start(configuration: configuration, metrics: ServiceMetrics(), logger: logger)
        try await Application(router: application.router()).test(.router) { client in
            try await client.execute(uri: "/v1/users/someone/recommendations?domain=movies", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["strategy"] == .string("popular"))
            }
            try await Self.expectDegraded(client, failing: "postgres", healthy: "redis")
            try await client.execute(uri: "/v1/predict", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"[["Toy Story"], [5]]"#)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
            }
        }
        await application.shutdown()
    }

    @Test("postgres.apply_migrations = false on a schema missing a migration: the API stays unready naming it, and applies nothing")
    func checkOnlyStaysUnreadyOnAnUnmigratedSchema() async throws {
        var logger = Logger(label: "inference-tests")
        logger.logLevel = .critical
        let schema = TestStack.uniqueName("apischema")
        var configuration = try Self.apiConfiguration(postgres: try await TestStack.createSchema(schema))
        configuration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        configuration.features.keyPrefix = schema + ":v1"
        configuration.applyMigrations = false
        let application = try await InferenceApplication.start(configuration: configuration, metrics: ServiceMetrics(), logger: logger)
        try await Application(router: application.router()).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = Self.json(response)
                #expect(body["status"] == .string("not_ready"))
                guard case .object(let checks)? = body["checks"], case .string(let schemaCheck)? = checks.first(where: { $0.key == "schema" })?.value else {
                    Issue.record("no schema check in \(body)")
                    return
                }
                #expect(schemaCheck.contains("the schema lacks migration 0001_training_store"), "\(schemaCheck)")
            }
        }
        await application.shutdown()
        let postgres = PostgresClient(configuration: configuration.postgres)
        #expect(try await postgres.query("SELECT to_regclass('schema_migrations') IS NULL")[0].decode(0, as: Bool.self), "checking applied something")
        await postgres.shutdown()
        try await TestStack.dropSchema(schema)
    }

    @Test("popular, trending, a user's profile, poll results (404 for an unknown poll), similar items (404 for an unknown item), models, admin reload needs the token")
    func otherRoutes() async throws {
        try await withApplication { fixture, client in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try await fixture.vote("voter-1", "p2", at: now, offset: 0)
            try await fixture.vote("voter-2", "p2", at: now, offset: 1)
            // p3: more votes, but two hours ago: first over 24 h, absent from the last hour.
            // A category's lists come from the catalog's categories (Redis keeps popularity per item only).
            let category = { (poll: String) in fixture.data.polls.first { $0.id == poll }!.category }
            let p3Category = category("p3")
            for voter in 3...5 { try await fixture.vote("voter-\(voter)", "p3", at: now - 2 * 3_600_000, offset: Int64(voter - 1), categories: [p3Category]) }
            func itemIDs(_ response: TestResponse) -> [String] {
                guard case .array(let items)? = Self.json(response)["items"] else { return [] }
                return items.compactMap { item in
                    guard case .object(let members) = item, case .string(let id)? = members.first(where: { $0.key == "item_id" })?.value else { return nil }
                    return id
                }
            }
            try await client.execute(uri: "/v1/popular?domain=polls&k=3", method: .get) { response in  // inference.popular_window: 24h
                #expect(itemIDs(response) == ["p3", "p2"])
                #expect(Self.json(response)["window"] == .string("24h"))
            }
            let inP3Category = ["p3", "p2"].filter { category($0) == p3Category }
            try await client.execute(uri: "/v1/popular?domain=polls&category=\(p3Category)", method: .get) { #expect(itemIDs($0) == inP3Category) }
            try await client.execute(uri: "/v1/popular?domain=polls&window=1h&category=\(p3Category)", method: .get) { #expect(itemIDs($0) == inP3Category.filter { $0 != "p3" }) }
            // A user with nothing gets the popular list of the window asked for, or of inference.popular_window.
            try await client.execute(uri: "/v1/users/nobody/recommendations?domain=polls&k=2", method: .get) { response in
                #expect(Self.json(response)["strategy"] == .string("popular"))
                #expect(itemIDs(response) == ["p3", "p2"])
            }
            try await client.execute(uri: "/v1/users/nobody/recommendations?domain=polls&k=2&window=1h", method: .get) { #expect(itemIDs($0) == ["p2"]) }
            try await client.execute(uri: "/v1/users/nobody/recommendations?domain=polls&category=\(p3Category)", method: .get) { #expect(itemIDs($0) == inP3Category) }
            try await client.execute(uri: "/v1/users/nobody/recommendations?domain=polls&window=2h", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorField(response) == "window")
            }
            try await client.execute(uri: "/v1/popular?domain=polls&window=1h&k=3", method: .get) { response in
                #expect(response.status == .ok)
                guard case .array(let items)? = Self.json(response)["items"], case .object(let first)? = items.first else {
                    Issue.record("no items")
                    return
                }
                #expect(first.first { $0.key == "item_id" }?.value == .string("p2"))
            }
            try await client.execute(uri: "/v1/trending?domain=polls&k=3", method: .get) { response in
                #expect(response.status == .ok)
                let body = Self.json(response)
                #expect(body["short_window"] == .string("1h") && body["long_window"] == .string("24h") && body["degraded"] == .bool(false))
                guard case .array(let items)? = body["items"], case .object(let first)? = items.first else {
                    Issue.record("no items")
                    return
                }
                #expect(items.count == 1)  // only p2 has weight in the last hour (p3's votes are two hours old)
                #expect(first.first { $0.key == "item_id" }?.value == .string("p2"))
            }
            // A voter's profile: the poll's category as affinity, the vote in the history, the last event time.
            try await client.execute(uri: "/v1/users/voter-3/profile?domain=polls", method: .get) { response in
                #expect(response.status == .ok)
                let body = Self.json(response)
                #expect(body["last_active"] == .string(EventTimestamp(millisecondsSinceEpoch: now - 2 * 3_600_000).description))
                #expect(body["affinities"] == .array([.object([("group", .string(p3Category)), ("weight", .number("2.0"))])]))
                guard case .array(let history)? = body["history"], case .object(let vote)? = history.first else { Issue.record("no history"); return }
                #expect(history.count == 1)
                #expect(vote.first { $0.key == "item_id" }?.value == .string("p3") && vote.first { $0.key == "type" }?.value == .string("poll.vote"))
                #expect(vote.contains { $0.key == "title" }, "the poll's question from the catalog")
            }
            try await client.execute(uri: "/v1/users/never-seen/profile", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["last_active"] == .null && Self.json(response)["history"] == .array([]))
            }
            try await client.execute(uri: "/v1/users/voter-3/profile?domain=polls&history=201", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorField(response) == "history")
            }
            try await client.execute(uri: "/v1/trending?domain=songs", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorField(response) == "domain")
            }
            try await client.execute(uri: "/v1/popular?domain=polls&window=2h", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorField(response) == "window")
            }
            try await client.execute(uri: "/v1/polls/p2/results", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["total_voters"] == .number("2"))
            }
            try await client.execute(uri: "/v1/polls/no-such-poll/results", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/models", method: .get) { response in
                guard case .array(let models)? = Self.json(response)["models"], case .object(let polls)? = models.first else {
                    Issue.record("no models")
                    return
                }
                #expect(polls.first { $0.key == "version" }?.value == .string(fixture.repository.model(for: .poll)!.manifest.version))
            }
            try await client.execute(uri: "/v1/items/p5/similar?domain=polls&k=4", method: .get) { response in
                #expect(response.status == .ok)
                guard case .array(let items)? = Self.json(response)["items"] else { Issue.record("no items"); return }
                #expect(items.count == 4)
                let ids = items.compactMap { item -> String? in
                    guard case .object(let members) = item, case .string(let id)? = members.first(where: { $0.key == "item_id" })?.value else { return nil }
                    return id
                }
                #expect(!ids.contains("p5"))
            }
            try await client.execute(uri: "/v1/items/no-such-item/similar?domain=polls", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(Self.errorField(response) == "item_id")
            }
            try await client.execute(uri: "/v1/admin/reload", method: .post) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/admin/reload", method: .post, headers: [.authorization: "Bearer wrong-token"]) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/admin/reload", method: .post, headers: [.authorization: "Bearer \(Self.adminToken)"]) { response in
                #expect(response.status == .ok)
            }
        }
    }
}
