import Events
import Foundation
import Kafka
import Logging
import Postgres
import Redis
import StackTestSupport
import SyntheticData
import Testing
import Training

/// `trainer backfill-features --through-topics` while the processor runs: the backfill publishes the
/// training store's events to the event topics and the processor, the one writer of each user's state,
/// applies them with what arrives live. Compared with one clean pass over the same topics.
@Suite("Backfill through the topics, while the processor runs", .serialized)
struct BackfillThroughTopicsTests {
    @Test("Redis lost its features; the processor runs again; a backfill through the topics and live events (some repeating stored ones) at the same time: the features of one clean pass, nothing counted twice")
    func backfillWhileProcessing() async throws {
        let fixture = try await ProcessorFixture()
        let redis = RedisClient(configuration: try TestStack.redisConfiguration())
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let catalog = SyntheticEvents.catalog(movies: 40, polls: 15, now: now)
        let stored = SyntheticEvents.interactions(count: 3_000, users: 150, movies: 40, polls: 15, now: now, seed: 41)
        // Live: new events of other users, and 100 of the stored events sent again (producer retries), so the
        // backfill and the live stream touch the same events. (A rating's weight is centred on the user's
        // mean when it is applied: a stored user's ratings applied in another order than the first time
        // would weigh otherwise without any double count, so the repeated ones are not ratings and the new
        // ones are other users'. docs/features.md, "Backfill".)
        let live = SyntheticEvents.interactions(count: 2_000, users: 150, movies: 40, polls: 15, now: now, seed: 42).map { event in
            var event = event
            event.userID = "live-" + event.userID
            return event
        } + stored.filter { $0.type != .movieRating }.prefix(100)

        // The stored events applied (Redis and the training store), then Redis loses the features while the
        // processor is stopped (a restarted processor starts with no state in memory).
        let firstEnds = try await fixture.produce(catalog + stored)
        _ = try await fixture.runUntilCommitted(firstEnds)
        let prefix = fixture.configuration.features.keyPrefix + ":"
        try await RedisSnapshot.delete(redis, prefix: prefix)
        #expect(try await fixture.redisSnapshot(redis).isEmpty)

        let running = try await fixture.start()
        let postgres = PostgresClient(configuration: fixture.configuration.postgres)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: fixture.configuration.consumer.bootstrapServers, clientID: "backfill-tests"))
        async let liveEnds = fixture.produce(live)
        var publishedEnds: [KafkaTopicPartition: Int64] = [:]
        var published = 0
        for domain in EventDomain.allCases {
            let range = FeatureBackfill.Range(
                domain: domain, from: EventTimestamp(millisecondsSinceEpoch: now - 8 * 86_400_000), to: EventTimestamp(millisecondsSinceEpoch: now + 3_600_000))
            let report = try await FeatureBackfill(postgres: postgres, destination: .topics(producer, fixture.topics), logger: Logger(label: "backfill-tests")).run(range)
            #expect(report.read == report.total && report.unpositioned == 0)
            #expect(report.applied == 0, "nothing applied by the backfill itself: the processor does")
            published += report.published
            publishedEnds.merge(report.publishedEnds) { max($0, $1) }
        }
        // (The generator repeats about 1 % of its events: the store keeps one row per event id.)
        #expect(published == Set(stored.map(\.eventID)).count, "every stored interaction published once")
        var ends = firstEnds
        ends.merge(try await liveEnds) { max($0, $1) }
        ends.merge(publishedEnds) { max($0, $1) }
        let reached = try await fixture.waitForCommitted(ends, timeout: .seconds(120))
        await running.stop()
        await producer.shutdown()
        await postgres.shutdown()
        #expect(reached, "the processor did not commit the topics' ends")

        let clean = try await fixture.secondPass(catalog: catalog)
        _ = try await clean.runUntilCommitted(ends)
        let expected = Self.comparable(try await clean.redisSnapshot(redis))
        let actual = Self.comparable(try await fixture.redisSnapshot(redis))
        #expect(expected.count > 100)
        let differing = Set(expected.keys).union(actual.keys).filter { expected[$0] != actual[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) keys differ, e.g. \(differing.prefix(3).map { "\($0): clean \(expected[$0] ?? "absent") vs \(actual[$0] ?? "absent")" })")
        #expect(try await fixture.storedInteractions() == clean.storedInteractions(), "one row per event in the training store")
        try await clean.cleanUp(redis)
        try await fixture.cleanUp(redis)
        await redis.shutdown()
    }

    /// A snapshot without what depends on which record applied an event rather than on the events: the
    /// record each event id was applied from (the clean pass applied the stored records, the run their
    /// published copies), each partition's applied offset (per user, and popularity's), and the slot of the
    /// user's history ring an entry went to (the order a user's events were applied in); the history's
    /// entries themselves are compared.
    static func comparable(_ snapshot: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for (key, content) in snapshot where !key.hasSuffix(":offsets") {
            guard content.hasPrefix("hash:") else {
                result[key] = content
                continue
            }
            let fields = content.dropFirst(5).split(separator: ",").map { pair -> (name: Substring, value: Substring) in
                let equals = pair.firstIndex(of: "=") ?? pair.endIndex
                return (pair[..<equals], pair[equals...].dropFirst())
            }
            if key.contains("{ids:") {
                result[key] = fields.map(\.name).sorted().joined(separator: ",")
                continue
            }
            result[key] = fields.filter { !$0.name.hasPrefix("o:") }.map { $0.name.hasPrefix("h:") ? "h=\($0.value)" : "\($0.name)=\($0.value)" }.sorted()
                .joined(separator: ",")
        }
        return result
    }
}
