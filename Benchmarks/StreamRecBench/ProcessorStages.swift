import EventStore
import Events
import Features
import Foundation
import Logging
import Postgres
import Redis
import ServiceSupport
import SyntheticData

// processor-stages: the stream processor's sinks, each run alone on the same events in one run, so that
// a floor can be named: the training store (PostgreSQL) alone, the feature writer (Redis) alone, and the
// two together as a batch runs them (no Kafka: the records are made in memory, keyed by user onto
// `partitions` partitions as the gateway keys them). Each on a fresh key prefix / schema, dropped after.

func processorStages(_ arguments: ProcessorStagesBenchmark) async throws {
    let logger = Logger(label: "streamrec.bench")
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let groups = syntheticCatalogGroups(now: now, movies: arguments.movies)
    let events = SyntheticEvents.interactions(
        count: arguments.events, users: arguments.users, movies: arguments.movies, polls: 707, now: now, span: 600_000, mix: .realistic, seed: 7
    )
    // Offsets per (topic, partition) in arrival order, as a broker would give them.
    var nextOffset: [String: Int64] = [:]
    let items: [FeatureEvent] = events.map { event in
        let topic = "stages." + event.domain.name
        let partition = Int32(event.userID.utf8.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 } % UInt32(arguments.partitions))
        let field = topic + "/\(partition)"
        let offset = nextOffset[field, default: 0]
        nextOffset[field] = offset + 1
        return FeatureEvent(event: event, position: RecordPosition(topic: topic, partition: partition, offset: offset), groups: groups[event.subjectID] ?? [])
    }
    let batches = stride(from: 0, to: items.count, by: arguments.batch).map { Array(items[$0..<min(items.count, $0 + arguments.batch)]) }

    let run = "stages\(Int(Date().timeIntervalSince1970))"
    let redis = RedisClient(configuration: RedisConfiguration(host: arguments.redisHost, port: arguments.redisPort), logger: logger)
    var base = PostgresConfiguration(host: arguments.postgresHost, port: arguments.postgresPort, database: arguments.postgresDatabase, user: arguments.postgresUser)
    base.password = ProcessInfo.processInfo.environment["STREAMREC_POSTGRES_PASSWORD"]
    let admin = PostgresClient(configuration: base, logger: logger)
    var scoped = base
    scoped.searchPath = run
    let postgres = PostgresClient(configuration: scoped, logger: logger)
    defer { Task { await redis.shutdown(); await postgres.shutdown(); await admin.shutdown() } }
    try await admin.query("CREATE SCHEMA \(identifier: run)")
    try await SchemaMigrations(directory: arguments.migrations, apply: true).prepare(postgres, logger: logger)
    let store = TrainingStore(postgres: postgres)

    func writer(_ name: String) -> FeatureWriter {
        var configuration = FeatureConfiguration()
        configuration.keyPrefix = "\(run)-\(name):v2"
        return FeatureWriter(configuration: configuration, redis: redis, logger: logger)
    }
    func timedRun(_ body: ([FeatureEvent]) async throws -> Void) async throws -> Double {
        let started = ContinuousClock.now
        for batch in batches { try await body(batch) }
        return Double(items.count) / (ContinuousClock.now - started).inSeconds
    }

    // The codec alone, on the bytes the gateway writes (both cores, as the processor decodes).
    let encoded = events.map { $0.canonicalJSON() }
    let decodeStarted = ContinuousClock.now
    var decodedCount = 0
    for value in encoded where (try? Event.decode(value)) != nil { decodedCount += 1 }
    let decodeRate = Double(decodedCount) / (ContinuousClock.now - decodeStarted).inSeconds

    // --features-only: the feature writer alone (an A/B of its CPU at a size's users and items).
    var storeRate = 0.0, togetherRate = 0.0
    if !arguments.featuresOnly {
        storeRate = try await timedRun { batch in _ = try await store.append(batch) }
        try await admin.query("TRUNCATE \(identifier: run).interactions")
    }
    let featuresWriter = writer("features")
    // The feature writer's steps summed over the batches (where a batch's time goes; see FeatureWriter).
    var steps: [Duration] = [.zero, .zero, .zero, .zero]
    let featuresRate = try await timedRun { batch in
        let outcome = try await featuresWriter.apply(batch, now: now)
        for (index, duration) in [outcome.readDuration, outcome.computeDuration, outcome.popularityStepDuration, outcome.userStepDuration].enumerated() {
            steps[index] += duration
        }
    }
    if !arguments.featuresOnly {
        let togetherWriter = writer("together")
        togetherRate = try await timedRun { batch in
            async let applied = togetherWriter.apply(batch, now: now)
            async let stored = store.append(batch)
            _ = try await (applied, stored)
        }
    }

    try await admin.query("DROP SCHEMA \(identifier: run) CASCADE")
    for prefix in ["features", "together"] {
        var cursor = "0"
        repeat {
            let reply = try await redis.send(RedisCommand("SCAN", cursor, "MATCH", "\(run)-\(prefix):v2*", "COUNT", 5000))
            cursor = reply.array?[0].string ?? "0"
            let keys = reply.array?[1].array?.compactMap(\.string) ?? []
            if !keys.isEmpty { _ = try await redis.send(RedisCommand("UNLINK", arguments: keys)) }
        } while cursor != "0"
    }
    let milliseconds = steps.map { $0.inSeconds * 1000 }
    print(String(
        format: "features steps, ms in all: read %.0f compute %.0f popularity %.0f users %.0f", milliseconds[0], milliseconds[1], milliseconds[2], milliseconds[3]
    ))
    print(String(
        format: "result name=processor-stages events=%d users=%d movies=%d batch=%d decode_per_s=%.0f store_alone_per_s=%.0f features_alone_per_s=%.0f together_per_s=%.0f",
        items.count, arguments.users, arguments.movies, arguments.batch, decodeRate, storeRate, featuresRate, togetherRate
    ))
}
