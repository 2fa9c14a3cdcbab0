import EventRecords
import Events
import Features
import Foundation
import Kafka
import Logging
import Postgres
import Redis

/// Rebuilds the Redis features of one domain and time range from the training store (`trainer
/// backfill-features`): the stored interactions are applied through the processor's own
/// ``FeatureWriter``, as the records they were read from, so the backfill and the live processor share
/// one computation and one deduplication (docs/features.md, "Backfill").
///
/// Each row keeps the Kafka record it was applied from (`source_topic`, `source_partition`,
/// `source_offset`) and its true event time (`occurred_at`). Given the same record positions, the
/// writer's rules make the two exactly once together, in either order:
/// - an event id already applied from that record, and a record at or below the user's applied offset of
///   its partition, are replays: no second effect on the user's state;
/// - a record at or below the domain's applied popularity offset of its partition is not counted again in
///   popularity or tallies;
/// - what the backfill applies carries the same positions, so the processor, meeting those records later
///   (a replay of the topic), finds them applied.
///
/// Rows are read in record order (topic, partition, offset), the order the processor applied them in:
/// a user's records are all in one partition, so each user's state is computed from the same sequence,
/// and sums over partitions do not depend on how partitions interleave. They are streamed through a
/// server-side cursor, ``chunkRows`` at a time, the next chunk fetched while the current one is applied.
/// Events older than the largest window plus the allowed lateness (measured against the wall clock, as
/// live) are counted late and have no effect.
public struct FeatureBackfill: Sendable {
    /// What to rebuild: one domain, `occurred_at` in `from ..< to`.
    public struct Range: Sendable, Hashable, CustomStringConvertible {
        public var domain: EventDomain
        public var from: EventTimestamp
        public var to: EventTimestamp

        public init(domain: EventDomain, from: EventTimestamp, to: EventTimestamp) {
            self.domain = domain
            self.from = from
            self.to = to
        }

        public var description: String { "\(domain.name) \(from) ..< \(to)" }
    }

    /// What a backfill did, so far or in total.
    public struct Report: Sendable, Hashable, CustomStringConvertible {
        /// Rows read from the training store (the range's total, when known, in ``total``).
        public var read = 0
        public var total = 0
        /// Applied now: the user's state, and popularity where the domain had not counted the record yet.
        public var applied = 0
        /// Already in Redis: applied from the same record before (by the processor or an earlier backfill).
        public var alreadyApplied = 0
        /// The event id was applied from another record (a producer's duplicate): no effect, as live.
        public var duplicates = 0
        /// Older than the largest window plus the allowed lateness: no feature effect, as live.
        public var late = 0
        /// Redis refused a key the event touches (the processor would dead-letter it): no effect.
        public var rejected = 0
        /// Rows without a source position (none is written without one): not applied, since nothing could
        /// tell them apart from the processor's records.
        public var unpositioned = 0
        /// Published to the event topics (``Destination/topics(_:)``), acknowledged by the broker: what the
        /// processors do with each is counted by them (applied, or a duplicate of an id already applied).
        public var published = 0
        /// Per partition, the offset after the last record published: the backfill has been applied once the
        /// processors' group has committed these (what an operator, or a test, waits for).
        public var publishedEnds: [KafkaTopicPartition: Int64] = [:]
        public var elapsed: Duration = .zero

        public init() {}

        public var perSecond: Double {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return seconds > 0 ? Double(read) / seconds : 0
        }

        public var description: String {
            if published > 0 {
                return "read \(read), published \(published), without position \(unpositioned); \(Int(perSecond.rounded())) events/s"
            }
            return "read \(read), applied \(applied), already applied \(alreadyApplied), duplicates \(duplicates), late \(late), "
                + "rejected \(rejected), without position \(unpositioned); \(Int(perSecond.rounded())) events/s"
        }

        mutating func add(_ outcome: FeatureApplyOutcome) {
            applied += outcome.applied
            alreadyApplied += outcome.replayed
            duplicates += outcome.duplicates
            late += outcome.late
            rejected += outcome.rejected
        }
    }

    /// Rows per `FETCH`: a few round trips of Redis pipelines each, and bounded memory whatever the range.
    /// `FETCH` takes no bound parameter, so the count is written in ``fetchChunk`` too.
    public static let chunkRows = 5000
    private static let fetchChunk: PostgresQuery = "FETCH FORWARD 5000 FROM feature_backfill"

    /// Where the backfill's events go.
    public enum Destination: Sendable {
        /// Applied here, through a feature writer of the backfill's own configured as the processor's (same
        /// `features.*` keys; its cache then holds the users met in this run only). Only while no processor
        /// runs on these users: a processor keeps the state of the users its partitions own in memory (one
        /// writer per user), and one of the two writers would overwrite what the other added.
        case featureWriter(FeatureWriter)
        /// Published to the event topics, keyed by user, as the gateway publishes events: the owner of each
        /// user's partition applies them as it applies every record, so they are exactly once together with
        /// the running processors. An event whose effects Redis still holds is a duplicate of its id there;
        /// one whose effects were lost (the id with them) counts again; one too old is late, as live.
        case topics(KafkaProducer, EventTopics)
    }

    private let postgres: PostgresClient
    private let destination: Destination
    private let logger: Logger

    public init(postgres: PostgresClient, writer: FeatureWriter, logger: Logger) {
        self.init(postgres: postgres, destination: .featureWriter(writer), logger: logger)
    }

    public init(postgres: PostgresClient, destination: Destination, logger: Logger) {
        self.postgres = postgres
        self.destination = destination
        self.logger = logger
    }

    /// Applies the range's stored interactions to Redis; `progress` is called after each chunk.
    public func run(_ range: Range, progress: (Report) -> Void = { _ in }) async throws -> Report {
        let started = ContinuousClock.now
        let from = Self.date(range.from), to = Self.date(range.to)
        var report = Report()
        report.total = try await postgres.query("""
            SELECT count(*) FROM interactions WHERE domain = \(range.domain.rawValue) AND occurred_at >= \(from) AND occurred_at < \(to)
            """).first?.decode(0, as: Int.self) ?? 0
        logger.info("backfill starts", metadata: ["range": "\(range)", "rows": "\(report.total)"])
        let store = TrainingStore(postgres: postgres)
        var groups: [String: [String]] = [:]
        try await postgres.withTransaction { session in
            // One snapshot for the whole pass; a cursor lives until the transaction ends.
            try await session.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            // occurred_at went in as microseconds of a millisecond time (exact since the binary COPY; rows the
            // text COPY stored may be a microsecond short): rounded back to the millisecond the event carried.
            try await session.query("""
                DECLARE feature_backfill NO SCROLL CURSOR FOR
                SELECT event_id::text, event_type, user_id, item_id, value, option_id,
                       round(extract(epoch FROM occurred_at) * 1000)::bigint, source_topic, source_partition, source_offset
                FROM interactions
                WHERE domain = \(range.domain.rawValue) AND occurred_at >= \(from) AND occurred_at < \(to)
                ORDER BY source_topic, source_partition, source_offset, event_id
                """)
            var rows = try await session.query(Self.fetchChunk)
            while !rows.isEmpty {
                // The next chunk is read while this one is applied (another connection does the lookups).
                async let next = session.query(Self.fetchChunk)
                var events: [FeatureEvent] = []
                events.reserveCapacity(rows.count)
                for row in rows {
                    report.read += 1
                    guard let item = try Self.featureEvent(row) else {
                        report.unpositioned += 1
                        continue
                    }
                    events.append(item)
                }
                switch destination {
                case .featureWriter(let writer):
                    let unknown = Set(events.map(\.event.subjectID)).filter { groups[$0] == nil }
                    if !unknown.isEmpty {
                        let found = try await store.groups(range.domain, ids: Array(unknown))
                        // Unknown to the catalog: no groups, as the processor applies them.
                        for id in unknown { groups[id] = found[id] ?? [] }
                    }
                    for index in events.indices { events[index].groups = groups[events[index].event.subjectID] ?? [] }
                    let outcome = try await writer.apply(events, now: Int64(Date().timeIntervalSince1970 * 1000))
                    report.add(outcome)
                case .topics(let producer, let topics):
                    let messages = events.map { EventRecord.message(for: $0.event, canonicalJSON: $0.event.canonicalJSON(), topics: topics) }
                    // Each chunk acknowledged before the next is read: a failure stops the backfill with what
                    // was published counted (publishing the range again is harmless: duplicates by id).
                    for delivery in await producer.send(messages) {
                        let acknowledged = try delivery.get()
                        let partition = KafkaTopicPartition(topic: acknowledged.topic, partition: acknowledged.partition)
                        report.publishedEnds[partition] = max(report.publishedEnds[partition] ?? 0, acknowledged.offset + 1)
                    }
                    report.published += messages.count
                }
                report.elapsed = ContinuousClock.now - started
                progress(report)
                rows = try await next
            }
            try await session.query("CLOSE feature_backfill")
        }
        report.elapsed = ContinuousClock.now - started
        logger.info("backfill done", metadata: ["range": "\(range)", "report": "\(report)"])
        return report
    }

    /// One backfill with a Redis client and a writer of its own (`trainer backfill-features`), closed after.
    public static func run(
        _ range: Range, postgres: PostgresClient, redis configuration: RedisConfiguration, features: FeatureConfiguration, logger: Logger,
        progress: (Report) -> Void = { _ in }
    ) async throws -> Report {
        let redis = RedisClient(configuration: configuration, logger: logger)
        do {
            let report = try await FeatureBackfill(postgres: postgres, writer: FeatureWriter(configuration: features, redis: redis, logger: logger), logger: logger)
                .run(range, progress: progress)
            await redis.shutdown()
            return report
        } catch {
            await redis.shutdown()
            throw error
        }
    }

    /// The interaction a row stores, at the record it was applied from; nil without a source position.
    static func featureEvent(_ row: PostgresRow) throws -> FeatureEvent? {
        guard let topic = try row.decode(7, as: String?.self), let partition = try row.decode(8, as: Int32?.self),
            let offset = try row.decode(9, as: Int64?.self)
        else { return nil }
        let typeName = try row.decode(1, as: String.self)
        guard let type = EventType(rawValue: typeName), !type.isCatalog else {
            throw PostgresError.decoding("interactions.event_type \(typeName) is not an interaction")
        }
        let value = try row.decode(4, as: Double?.self)
        let payload: EventPayload
        switch type {
        case .movieRating:
            guard let value else { throw PostgresError.decoding("movie.rating without a value") }
            payload = .rating(value)
        case .movieView: payload = .view(watchSeconds: value)
        case .pollVote:
            guard let option = try row.decode(5, as: String?.self) else { throw PostgresError.decoding("poll.vote without option_id") }
            payload = .vote(optionID: option)
        default: payload = .none
        }
        let event = Event(
            eventID: try row.decode(0, as: String.self), type: type, userID: try row.decode(2, as: String.self), subjectID: try row.decode(3, as: String.self),
            occurredAt: EventTimestamp(millisecondsSinceEpoch: try row.decode(6, as: Int64.self)), payload: payload
        )
        return FeatureEvent(event: event, position: RecordPosition(topic: topic, partition: partition, offset: offset), groups: [])
    }

    static func date(_ timestamp: EventTimestamp) -> Date {
        Date(timeIntervalSince1970: Double(timestamp.millisecondsSinceEpoch) / 1000)
    }
}
