#if canImport(Glibc)
import Glibc
#endif
import ClientRuntime
import Events
import Foundation
import Features
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// The consume → apply → commit loop. Offsets are committed only after a batch's effects were
/// acknowledged by Redis, PostgreSQL and (for dead letters) Kafka; while a dependency is down the
/// same batch is retried with backoff and nothing is committed. On graceful shutdown the batch in
/// hand is finished and committed, then the consumer leaves the group.
///
/// The next batch is read and decoded while one is applied (its poll and decode are the part of a batch
/// that touches no dependency). It is applied only once the one before is applied and its offsets stored,
/// so batches are applied, stored and committed one at a time and in order; a rebalance during that read
/// waits until the batch being applied is done (``KafkaConsumer/setRebalanceBarrier(_:)``), so a revoke
/// commits it and no partition changes hands while its records are written.
public final class StreamProcessorService: Service, Sendable {
    private let consumer: KafkaConsumer
    private let processor: EventBatchProcessor
    private let incarnations: TopicIncarnations?
    private let topics: [String]
    private let retryBackoff: Backoff
    private let metrics: ProcessorMetrics
    private let logger: Logger
    private let clock: @Sendable () -> Int64
    /// Next offset to read per partition, as committed by this member.
    private let committed = Mutex<[KafkaTopicPartition: Int64]>([:])
    private let paused = Atomic<Bool>(false)
    private let applying = BatchInFlight()

    public init(
        consumer: KafkaConsumer, processor: EventBatchProcessor, incarnations: TopicIncarnations? = nil, topics: [String], retryBackoff: Backoff,
        metrics: ProcessorMetrics, logger: Logger, clock: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }
    ) {
        self.consumer = consumer
        self.processor = processor
        self.incarnations = incarnations
        self.topics = topics
        self.retryBackoff = retryBackoff
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        let applying = applying
        consumer.setRebalanceBarrier { applying.waitUntilIdle() }
    }

    /// Next offset to read per partition, as committed by this member so far.
    public var committedOffsets: [KafkaTopicPartition: Int64] { committed.withLock { $0 } }

    /// True while a batch is being retried because a dependency failed.
    public var isPaused: Bool { paused.load(ordering: .relaxed) }

    /// A batch read and decoded, with the log ends fetched with it.
    private struct ReadBatch: Sendable {
        var decoded: DecodedBatch
        var logEnds: [String: Int64]
    }

    public func run() async throws {
        try consumer.subscribe(topics: topics)
        logger.info("consuming", metadata: ["topics": "\(topics)", "group": "\(consumer.configuration.groupID)"])
        do {
            var next = try await read(giveUp: nil)
            while let batch = next, !Task.isShuttingDownGracefully, !Task.isCancelled {
                let done = KafkaPollStop()
                applying.begin()
                async let applied = applyAndStore(batch, done: done)
                // Meanwhile the next batch is read and decoded; the read gives up once this batch is done
                // and nothing has arrived, so its commit does not wait for new records.
                let following: ReadBatch?
                do {
                    following = try await read(giveUp: done)
                } catch {
                    _ = await applied
                    throw error
                }
                guard let report = await applied else { break }
                do {
                    let commitStarted = ContinuousClock.now
                    try await consumer.commit()
                    metrics.stage("commit").recordNanoseconds((ContinuousClock.now - commitStarted).nanoseconds)
                } catch {
                    // Stored offsets are committed with the next commit or on revoke; a replay of this
                    // batch would change nothing anyway.
                    logger.warning("offset commit failed; will be retried with the next batch", metadata: ["error": "\(error)"])
                    metrics.commitFailures.increment()
                }
                record(report, records: batch.decoded.records)
                if let following, following.decoded.records.isEmpty {
                    next = try await read(giveUp: nil)
                } else {
                    next = following
                }
            }
        } catch let error as KafkaError where !error.isFatal {
            logger.warning("consumer stopped", metadata: ["error": "\(error)"])
        }
        await consumer.close()
        logger.info("stream processor stopped")
    }

    /// The next batch, decoded, with its partitions' log ends as fetched with it (they let the feature
    /// writer tell a recreated topic from a replay). Given `giveUp`: an empty batch if it is stopped before
    /// a record arrived. Nil at shutdown or when the consumer closed.
    private func read(giveUp: KafkaPollStop?) async throws -> ReadBatch? {
        let consumer = consumer
        let records = try await cancelWhenGracefulShutdown { try await consumer.nextBatch(unless: giveUp) }
        guard let records else { return nil }
        guard !records.isEmpty else { return ReadBatch(decoded: await processor.decode([]), logEnds: [:]) }
        let partitions = Array(Set(records.map(\.topicPartition)))
        let highs = (try? consumer.fetchedHighWatermarks(for: partitions)) ?? [:]
        let logEnds = Dictionary(uniqueKeysWithValues: highs.map { (RecordPosition.partitionField(topic: $0.key.topic, partition: $0.key.partition), $0.value) })
        return ReadBatch(decoded: await processor.decode(records), logEnds: logEnds)
    }

    /// Applies the batch (``processWithRetry(_:)``); once it is applied, stores its offsets for the commit.
    /// Either way, then ends the rebalance barrier's wait and the next batch's read if nothing arrived.
    private func applyAndStore(_ batch: ReadBatch, done: KafkaPollStop) async -> BatchReport? {
        defer {
            applying.end()
            done.stop()
        }
        guard let report = await processWithRetry(batch) else { return nil }
        consumer.storeOffsets(batch.decoded.records)
        return report
    }

    /// Applies the batch, retrying while dependencies fail. Returns nil if shutdown came first (the
    /// batch is then neither applied completely nor committed, and the next owner replays it).
    private func processWithRetry(_ batch: ReadBatch) async -> BatchReport? {
        let records = batch.decoded.records
        // Looked up when the batch starts: a stale id found by the batch before was forgotten by then.
        let topicIDs = await incarnations?.ids(for: Set(records.map(\.topic))) ?? [:]
        let report = await retryUntilShutdown(backoff: retryBackoff) { failures, error in
            metrics.applyFailures.increment()
            if failures == 1 {
                logger.error("batch failed; retrying without committing", metadata: ["error": "\(error)", "records": "\(records.count)"])
                paused.store(true, ordering: .relaxed)
                metrics.paused.record(1)
            }
        } recovered: { attempts in
            logger.info("dependencies are back; batch applied", metadata: ["attempts": "\(attempts)"])
            paused.store(false, ordering: .relaxed)
            metrics.paused.record(0)
        } _: {
            let started = ContinuousClock.now
            let report = try await processor.process(batch.decoded, now: clock(), logEnds: batch.logEnds, topicIDs: topicIDs)
            metrics.batchDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            return report
        }
        // A topic recreated under an id looked up before: ask for the ids again.
        if let report, !report.staleTopicIDs.isEmpty { incarnations?.forget() }
        return report
    }

    private func record(_ report: BatchReport, records: [KafkaConsumerMessage]) {
        let now = clock()
        for (stage, duration) in report.stageDurations { metrics.stage(stage).recordNanoseconds(duration.nanoseconds) }
        // Counted per (type, outcome) first: a counter looked up per event cost more than applying it.
        var counts: [ProcessorMetrics.EventOutcome: Int64] = [:]
        // By index: iterating the events would copy each (and retain its strings) for two fields.
        for index in report.events.indices where index < report.features.statuses.count {
            let status = report.features.statuses[index]
            counts[ProcessorMetrics.EventOutcome(type: report.events[index].event.type, status: status), default: 0] += 1
            if case .applied = status {
                metrics.freshness.recordNanoseconds(max(0, now - report.events[index].event.occurredAt.millisecondsSinceEpoch) * 1_000_000)
            }
        }
        for (outcome, count) in counts { metrics.events(outcome).increment(by: count) }
        for letter in report.deadLetters { metrics.deadLettered(letter.reason).increment() }
        var next: [KafkaTopicPartition: Int64] = [:]
        for record in records { next[record.topicPartition] = max(next[record.topicPartition] ?? 0, record.offset + 1) }
        // A partition revoked while the next batch was read was committed and forgotten then: not exported again.
        let owned = Set(consumer.assignment)
        next = next.filter { owned.contains($0.key) }
        committed.withLock { committed in
            for (partition, offset) in next { committed[partition] = offset }
        }
        for (partition, offset) in next { metrics.committedOffset(partition).record(offset) }
    }

    /// Refreshes lag gauges: high watermark from the latest fetch minus our committed offset, for the
    /// partitions this member still owns (any other is forgotten here too, should a revoke have been missed).
    public func refreshLag() async {
        let assigned = Set(consumer.assignment)
        let gone = committed.withLock { Array($0.keys.filter { !assigned.contains($0) }) }
        if !gone.isEmpty { forget(gone) }
        let known = committed.withLock { $0 }
        guard !known.isEmpty, let highs = try? consumer.fetchedHighWatermarks(for: Array(known.keys)) else { return }
        for (partition, offset) in known {
            if let high = highs[partition] { metrics.lag(partition).record(max(0, high - offset)) }
        }
    }
}

extension StreamProcessorService {
    /// Partitions revoked in a rebalance: their lag and committed-offset series stop being exported at once
    /// (the new owner exports them; a frozen copy here would count them twice in a `sum()`).
    public func forget(_ partitions: [KafkaTopicPartition]) {
        committed.withLock { committed in
            for partition in partitions { committed[partition] = nil }
        }
        for partition in partitions { metrics.forget(partition) }
    }
}

/// Whether a batch is being applied, for the consumer's rebalance barrier, which runs on the poll thread
/// and may block there (never on the cooperative pool: ``begin()`` and ``end()`` only take the lock).
final class BatchInFlight: @unchecked Sendable {
    // `busy` is only read or written with `condition` locked.
    private let condition = NSCondition()
    private var busy = false

    func begin() {
        condition.lock()
        busy = true
        condition.unlock()
    }

    func end() {
        condition.lock()
        busy = false
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until no batch is being applied. On the consumer's poll thread only.
    func waitUntilIdle() {
        condition.lock()
        while busy { condition.wait() }
        condition.unlock()
    }
}

public func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// The processor's Prometheus metrics.
public struct ProcessorMetrics: Sendable {
    /// Freshness is judged against "under a second", so its buckets are finer there.
    public static let durationBuckets: [String: [Duration]] = [
        "streamrec_processor_freshness_seconds": [10, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 5000, 10000, 30_000, 60_000]
            .map { Duration.milliseconds($0) },
    ]

    let factory: any MetricsFactory
    /// The `consumergroup` label of the per-partition gauges (kafka-exporter's name for it).
    let consumerGroup: String
    let batchDuration: Metrics.Timer
    let freshness: Metrics.Timer
    let paused: Gauge
    let applyFailures: Counter
    let commitFailures: Counter
    private let cache = MetricCache()

    public init(factory: any MetricsFactory, consumerGroup: String = "") {
        self.factory = factory
        self.consumerGroup = consumerGroup
        batchDuration = Metrics.Timer(label: "streamrec_processor_batch_duration_seconds", factory: factory)
        freshness = Metrics.Timer(label: "streamrec_processor_freshness_seconds", factory: factory)
        paused = Gauge(label: "streamrec_processor_paused", factory: factory)
        applyFailures = Counter(label: "streamrec_processor_batch_failures_total", factory: factory)
        commitFailures = Counter(label: "streamrec_processor_commit_failures_total", factory: factory)
    }

    /// The labels of `streamrec_processor_events_total`.
    struct EventOutcome: Hashable {
        var type: EventType
        var outcome: String

        init(type: EventType, status: FeatureApplyOutcome.Status) {
            self.type = type
            switch status {
            case .applied: outcome = "applied"
            case .replayed: outcome = "replayed"
            case .duplicate: outcome = "duplicate"
            case .late: outcome = "late"
            case .catalog: outcome = "catalog"
            case .rejected: outcome = "dead_lettered"
            }
        }
    }

    func events(_ outcome: EventOutcome) -> Counter {
        cache.counter("streamrec_processor_events_total", [("type", outcome.type.rawValue), ("outcome", outcome.outcome)], factory: factory)
    }

    func stage(_ name: String) -> Metrics.Timer {
        cache.timer("streamrec_processor_stage_duration_seconds", [("stage", name)], factory: factory)
    }

    func deadLettered(_ reason: String) -> Counter {
        cache.counter("streamrec_processor_dead_lettered_total", [("reason", reason)], factory: factory)
    }

    func committedOffset(_ partition: KafkaTopicPartition) -> Gauge {
        cache.gauge("streamrec_processor_committed_offset", dimensions(partition), factory: factory)
    }

    func lag(_ partition: KafkaTopicPartition) -> Gauge {
        cache.gauge("streamrec_processor_lag_records", dimensions(partition), factory: factory)
    }

    /// Stops exporting a partition's gauges (revoked from this member).
    func forget(_ partition: KafkaTopicPartition) {
        cache.destroyGauge("streamrec_processor_committed_offset", dimensions(partition))
        cache.destroyGauge("streamrec_processor_lag_records", dimensions(partition))
    }

    private func dimensions(_ partition: KafkaTopicPartition) -> [(String, String)] {
        [("consumergroup", consumerGroup), ("topic", partition.topic), ("partition", String(partition.partition))]
    }
}
