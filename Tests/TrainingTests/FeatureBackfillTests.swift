import Events
import Features
import Foundation
import Logging
import Postgres
import Redis
import StackTestSupport
import Testing
import Training

/// `trainer backfill-features`' core against the real Redis and PostgreSQL: events (60 of them late) applied
/// as the stream processor applies them (the feature writer, record by record, with the broker's topic ids, and the
/// training store's append), then Redis rebuilt or re-walked from the training store.
@Suite("Feature backfill from the training store", .serialized)
struct FeatureBackfillTests {
    static let movieTopic = "streamrec.movie-events", pollTopic = "streamrec.poll-events"
    /// The topic ids the live writer is given (as the processor gets them from the broker).
    static let topicIDs = [movieTopic: "TIDmovie", pollTopic: "TIDpoll"]

    /// A schema, a key prefix and a Redis client of the test's own, the catalog stored, and a stream of
    /// interactions over the last two days at the records a processor would read them from.
    struct Fixture {
        let schema = TestStack.uniqueName("backfill")
        let postgres: PostgresClient
        let redis: RedisClient
        let features: FeatureConfiguration
        let store: TrainingStore
        let events: [FeatureEvent]
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let logger: Logger

        init(count: Int = 12_000) async throws {
            postgres = PostgresClient(configuration: try await TestStack.createSchema(schema))
            _ = try await PostgresMigrator(directory: TestStack.repositoryRoot + "/configs/migrations").migrate(postgres)
            redis = RedisClient(configuration: try TestStack.redisConfiguration())
            var features = FeatureConfiguration()
            features.keyPrefix = TestStack.uniqueName("backfill") + ":v2"
            self.features = features
            store = TrainingStore(postgres: postgres)
            var logger = Logger(label: "backfill-tests")
            logger.logLevel = .warning
            self.logger = logger
            let catalog = SyntheticEvents.catalog(movies: 50, polls: 20, now: now)
            var groups: [String: [String]] = [:]
            for event in catalog {
                try await store.upsertCatalog(event)
                switch event.payload {
                case .movieAdded(let movie): groups[event.subjectID] = movie.genres
                case .pollCreated(let poll): groups[event.subjectID] = [poll.category]
                default: break
                }
            }
            // Keyed by user: all of a user's records in one of three partitions per topic, offsets in stream order.
            var nextOffset: [String: Int64] = [:]
            // And 60 older than the largest window plus the lateness (7 d 1 h): late for the processor, late for
            // the backfill, stored all the same.
            let lateTime: Int64 = now - 7 * 86_400_000 - 2 * 3_600_000
            let late: [Event] = (0..<60).map { (index: Int) -> Event in
                let isMovie = index % 2 == 0
                let subject = isMovie ? "m\(index % 50)" : "p\(index % 20)"
                return Event(
                    eventID: EventID.random(), type: isMovie ? .movieLike : .pollShare, userID: "user-\(index % 7)", subjectID: subject,
                    occurredAt: EventTimestamp(millisecondsSinceEpoch: lateTime - Int64(index))
                )
            }
            events = (SyntheticEvents.interactions(count: count, users: 300, now: now, seed: 24) + late).map { event in
                let topic = event.domain == .movie ? Self.movieTopicName : Self.pollTopicName
                let partition = Int32(event.userID.utf8.reduce(0) { $0 &+ Int($1) } % 3)
                let field = "\(topic)/\(partition)"
                let offset = nextOffset[field, default: 0]
                nextOffset[field] = offset + 1
                return FeatureEvent(event: event, position: RecordPosition(topic: topic, partition: partition, offset: offset), groups: groups[event.subjectID] ?? [])
            }
        }

        static let movieTopicName = FeatureBackfillTests.movieTopic
        static let pollTopicName = FeatureBackfillTests.pollTopic

        /// A writer as the processor has one (each processor process, and each backfill, its own).
        func writer() -> FeatureWriter { FeatureWriter(configuration: features, redis: redis, logger: logger) }

        /// What the processor does with these records: features (with the topics' ids) and the training
        /// store, batch by batch. Returns how many were applied.
        @discardableResult
        func live(_ slice: ArraySlice<FeatureEvent>, writer: FeatureWriter, batch: Int = 500) async throws -> Int {
            var applied = 0
            for start in stride(from: slice.startIndex, to: slice.endIndex, by: batch) {
                let records = Array(slice[start..<min(slice.endIndex, start + batch)])
                applied += try await writer.apply(records, now: Int64(Date().timeIntervalSince1970 * 1000), topicIDs: FeatureBackfillTests.topicIDs).applied
                try await store.append(records)
            }
            return applied
        }

        func backfill() async throws -> FeatureBackfill.Report {
            var total = FeatureBackfill.Report()
            for domain in EventDomain.allCases {
                let range = FeatureBackfill.Range(
                    domain: domain, from: EventTimestamp(millisecondsSinceEpoch: now - 8 * 86_400_000), to: EventTimestamp(millisecondsSinceEpoch: now + 60_000)
                )
                let report = try await FeatureBackfill(postgres: postgres, writer: writer(), logger: logger).run(range)
                total.read += report.read
                total.total += report.total
                total.applied += report.applied
                total.alreadyApplied += report.alreadyApplied
                total.duplicates += report.duplicates
                total.late += report.late
                total.rejected += report.rejected
                total.unpositioned += report.unpositioned
            }
            return total
        }

        /// Every feature key without the prefix; keys expiring within 30 minutes left out (a bucket may
        /// expire between two snapshots; see ``RedisSnapshot``).
        func snapshot() async throws -> [String: String] {
            let prefix = features.keyPrefix
            return Dictionary(uniqueKeysWithValues: try await RedisSnapshot.take(redis, prefix: prefix + ":", omittingKeysExpiringBefore: now + 30 * 60_000).map {
                (String($0.key.dropFirst(prefix.count)), $0.value)
            })
        }

        /// Redis lost its data: every feature key of this test deleted.
        func flush() async throws { try await RedisSnapshot.delete(redis, prefix: features.keyPrefix + ":") }

        func finish() async throws {
            try await flush()
            await redis.shutdown()
            await postgres.shutdown()
            try await TestStack.dropSchema(schema)
        }
    }

    /// The one difference allowed: the training store keeps where a record was read (topic, partition,
    /// offset) but not the Kafka topic id it was read under, so offsets the backfill writes carry no
    /// `@<topic id>` (the processor's log-end rule then vouches for them, docs/features.md). Nothing in the
    /// state depends on when it was applied: times are event times, and TTLs are not compared.
    static func withoutTopicIDs(_ snapshot: [String: String]) -> [String: String] {
        snapshot.mapValues { $0.replacingOccurrences(of: "@TIDmovie", with: "").replacingOccurrences(of: "@TIDpoll", with: "") }
    }

    static func differences(_ left: [String: String], _ right: [String: String]) -> [String] {
        Set(left.keys).union(right.keys).sorted().filter { left[$0] != right[$0] }.prefix(5).map { "\($0): \(left[$0] ?? "-") vs \(right[$0] ?? "-")" }
    }

    @Test("Redis flushed, then rebuilt from the training store: key by key the state the processor had built")
    func rebuildAfterFlushEqualsLiveState() async throws {
        let fixture = try await Fixture()
        let liveApplied = try await fixture.live(fixture.events[...], writer: fixture.writer())
        let live = try await fixture.snapshot()
        #expect(live.count > 500)
        #expect(live.keys.contains { $0.contains("tally") } && live.keys.contains { $0.contains(":all:1h:") })

        try await fixture.flush()
        #expect(try await fixture.snapshot().isEmpty)
        let report = try await fixture.backfill()
        let rebuilt = try await fixture.snapshot()
        // One row per event id in the store: the producer's repeats (about 1 %) were never stored twice.
        #expect(report.read == report.total && report.applied == liveApplied && report.alreadyApplied == 0, "\(report)")
        #expect(report.duplicates == 0 && report.late == 60 && report.rejected == 0 && report.unpositioned == 0, "\(report)")
        #expect(rebuilt.count == live.count)
        #expect(rebuilt == Self.withoutTopicIDs(live), "\(Self.differences(rebuilt, Self.withoutTopicIDs(live)))")

        // A second backfill over the rebuilt state counts nothing again.
        let again = try await fixture.backfill()
        #expect(again.applied == 0 && again.late == 60 && again.alreadyApplied + again.late == again.read, "\(again)")
        #expect(try await fixture.snapshot() == rebuilt)
        try await fixture.finish()
    }

    @Test("backfill over what the processor applied, and the processor over what the backfill applied: nothing counted twice")
    func noDoubleCountInEitherOrder() async throws {
        let fixture = try await Fixture()
        // Processor first, then the backfill over the same events: every one already there, the state unchanged
        // (popularity, tallies, seen-sets, histories, offsets with their topic ids).
        try await fixture.live(fixture.events[...], writer: fixture.writer())
        let live = try await fixture.snapshot()
        let over = try await fixture.backfill()
        #expect(over.applied == 0 && over.late == 60 && over.alreadyApplied + over.late == over.read && over.read > 10_000, "\(over)")
        let afterBackfill = try await fixture.snapshot()
        #expect(afterBackfill == live, "\(Self.differences(afterBackfill, live))")

        // Backfill first (Redis lost; the store has every event), then the processor replays the topics
        // (a new consumer group, a reset of offsets): none applied again.
        try await fixture.flush()
        _ = try await fixture.backfill()
        let replayed = try await fixture.live(fixture.events[...], writer: fixture.writer())
        #expect(replayed == 0)
        let afterReplay = try await fixture.snapshot()
        #expect(Self.withoutTopicIDs(afterReplay) == Self.withoutTopicIDs(live), "\(Self.differences(Self.withoutTopicIDs(afterReplay), Self.withoutTopicIDs(live)))")
        try await fixture.finish()
    }

    @Test("Redis lost mid-stream: backfill, then the processor goes on (replaying its last uncommitted batches): the state of one clean pass")
    func processorContinuesAfterBackfill() async throws {
        let fixture = try await Fixture()
        let processor = fixture.writer()
        let half = fixture.events.count / 2
        try await fixture.live(fixture.events[..<half], writer: processor)
        try await fixture.flush()
        let report = try await fixture.backfill()
        #expect(report.applied > 0 && report.alreadyApplied == 0, "\(report)")
        // The same processor (its memory of offsets and users now wrong: the compare-and-set on the applied
        // offsets makes it read Redis again) replays the last 1 000 records it had not committed, then goes on.
        try await fixture.live(fixture.events[(half - 1000)...], writer: processor)
        let resumed = try await fixture.snapshot()

        let clean = try await Fixture.cleanPass(of: fixture)
        #expect(Self.withoutTopicIDs(resumed) == Self.withoutTopicIDs(clean), "\(Self.differences(Self.withoutTopicIDs(resumed), Self.withoutTopicIDs(clean)))")
        try await fixture.finish()
    }
}

extension FeatureBackfillTests.Fixture {
    /// The same events applied once, in order, by one processor, under a key prefix of their own.
    static func cleanPass(of fixture: Self) async throws -> [String: String] {
        var features = fixture.features
        features.keyPrefix = TestStack.uniqueName("clean") + ":v2"
        let writer = FeatureWriter(configuration: features, redis: fixture.redis, logger: fixture.logger)
        for start in stride(from: 0, to: fixture.events.count, by: 500) {
            _ = try await writer.apply(
                Array(fixture.events[start..<min(fixture.events.count, start + 500)]), now: Int64(Date().timeIntervalSince1970 * 1000),
                topicIDs: FeatureBackfillTests.topicIDs
            )
        }
        let prefix = features.keyPrefix
        let snapshot = try await RedisSnapshot.take(fixture.redis, prefix: prefix + ":", omittingKeysExpiringBefore: fixture.now + 30 * 60_000)
        try await RedisSnapshot.delete(fixture.redis, prefix: prefix + ":")
        return Dictionary(uniqueKeysWithValues: snapshot.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }
}
