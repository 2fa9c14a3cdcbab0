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
/// Batches overlap in a pipeline of two stages (``EventBatchProcessor/prepare(_:now:logEnds:topicIDs:after:)``
/// and ``EventBatchProcessor/finish(_:)``): while batch n is finished (its users written to Redis, its rows to
/// PostgreSQL, its dead letters sent), batch n+1 is read, decoded and prepared (catalog, feature reads and
/// computation, event ids and popularity). Batches are prepared one at a time and finished one at a time, in
/// order, and committed in order once finished. If batch n fails to finish, batch n+1's preparation is void:
/// batch n is applied again, whole, with backoff, then n+1. A rebalance during a read waits until every batch
/// begun is finished (``KafkaConsumer/setRebalanceBarrier(_:)``), so a revoke commits them and no partition
/// changes hands while its records are written.
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
    private let preparing = PreparationTurn()

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
        // `next`'s first stage, when it was done while the batch before was finished.
        var prepared: PreparedBatch?
        do {
            var next = try await read(giveUp: nil)
            while let batch = next, !Task.isCancelled, prepared != nil || !Task.isShuttingDownGracefully {
                let current: PreparedBatch
                if let prepared {
                    current = prepared
                } else {
                    applying.begin()
                    guard let made = await preparing.run({ await prepareWithRetry(batch) }) else {
                        applying.end()
                        break
                    }
                    current = made
                }
                prepared = nil
                let done = KafkaPollStop()
                async let finished = finishAndStore(batch, current, done: done)
                // Meanwhile the next batch is read, decoded and prepared; the read gives up once this batch is
                // finished and nothing has arrived, so its commit does not wait for new records.
                let following: ReadBatch?
                do {
                    following = try await read(giveUp: done)
                } catch {
                    _ = await finished
                    throw error
                }
                var followingPrepared: PreparedBatch?
                if let following, !following.decoded.records.isEmpty, !Task.isShuttingDownGracefully {
                    applying.begin()
                    followingPrepared = await preparing.run { await prepareOnce(following, after: current) }
                    if followingPrepared == nil { applying.end() }
                }
                let (report, appliedAgain) = await finished
                if let made = followingPrepared, report == nil || appliedAgain {
                    // Prepared on states the failed finish left unsure (void), or not to be finished (shutdown).
                    processor.discard(made)
                    applying.end()
                    followingPrepared = nil
                }
                guard let report else { break }
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
                prepared = followingPrepared
                if let following, following.decoded.records.isEmpty {
                    next = try await read(giveUp: nil)
                } else {
                    next = following
                }
            }
        } catch let error as KafkaError where !error.isFatal {
            logger.warning("consumer stopped", metadata: ["error": "\(error)"])
        }
        if let prepared {
            processor.discard(prepared)
            applying.end()
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

    /// Finishes the batch; if that fails, applies it again, whole, until it succeeds (taking turns with the
    /// next batch's preparation). Once it is applied, stores its offsets for the commit. Either way, then ends
    /// the rebalance barrier's wait and the next batch's read if nothing arrived. Returns the report (nil if
    /// shutdown came first) and whether the batch was applied again.
    private func finishAndStore(_ batch: ReadBatch, _ prepared: PreparedBatch, done: KafkaPollStop) async -> (BatchReport?, Bool) {
        defer {
            applying.end()
            done.stop()
        }
        let started = ContinuousClock.now
        do {
            let report = try await processor.finish(prepared)
            metrics.batchDuration.recordNanoseconds((prepared.duration + (ContinuousClock.now - started)).nanoseconds)
            consumer.storeOffsets(batch.decoded.records)
            return (report, false)
        } catch {
            failed(1, error, records: batch.decoded.records.count)
        }
        // The users may be partly written: this batch is applied again from what Redis holds.
        let report = await preparing.run { await processWithRetry(batch, failures: 1) }
        if report != nil { consumer.storeOffsets(batch.decoded.records) }
        return (report, true)
    }

    /// The topic ids of a batch's topics, looked up when the batch starts: a stale id found by the batch
    /// before was forgotten by then.
    private func topicIDs(_ batch: ReadBatch) async -> [String: String] {
        await incarnations?.ids(for: Set(batch.decoded.records.map(\.topic))) ?? [:]
    }

    /// The first stage of the next batch while the one before is finished: one attempt (nil if it failed; it
    /// is prepared again, with retries, once the batch before is done).
    private func prepareOnce(_ batch: ReadBatch, after previous: PreparedBatch) async -> PreparedBatch? {
        do {
            return try await processor.prepare(batch.decoded, now: clock(), logEnds: batch.logEnds, topicIDs: await topicIDs(batch), after: previous)
        } catch {
            logger.debug("the next batch's preparation failed; it is prepared again after this batch", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The first stage, retried while dependencies fail. Nil if shutdown came first.
    private func prepareWithRetry(_ batch: ReadBatch) async -> PreparedBatch? {
        await retrying(batch, failures: 0) {
            try await processor.prepare(batch.decoded, now: clock(), logEnds: batch.logEnds, topicIDs: await topicIDs(batch))
        }
    }

    /// Applies the batch (both stages), retrying while dependencies fail. Returns nil if shutdown came first
    /// (the batch is then neither applied completely nor committed, and the next owner replays it).
    private func processWithRetry(_ batch: ReadBatch, failures: Int) async -> BatchReport? {
        await retrying(batch, failures: failures) {
            let prepared = try await processor.prepare(batch.decoded, now: clock(), logEnds: batch.logEnds, topicIDs: await topicIDs(batch))
            let started = ContinuousClock.now
            let report = try await processor.finish(prepared)
            metrics.batchDuration.recordNanoseconds((prepared.duration + (ContinuousClock.now - started)).nanoseconds)
            return report
        }
    }

    /// Runs `attempt` until it succeeds, with backoff, or until shutdown (nil); `failures` already happened.
    private func retrying<Result: Sendable>(_ batch: ReadBatch, failures: Int, _ attempt: () async throws -> Result) async -> Result? {
        let records = batch.decoded.records.count
        let result = await retryUntilShutdown(backoff: retryBackoff, afterFailures: failures) { count, error in
            failed(count, error, records: records)
        } recovered: { attempts in
            logger.info("dependencies are back; batch applied", metadata: ["attempts": "\(attempts)"])
            paused.store(false, ordering: .relaxed)
            metrics.paused.record(0)
        } _: {
            try await attempt()
        }
        return result
    }

    private func failed(_ failures: Int, _ error: any Error, records: Int) {
        metrics.applyFailures.increment()
        if failures == 1 {
            logger.error("batch failed; retrying without committing", metadata: ["error": "\(error)", "records": "\(records)"])
            paused.store(true, ordering: .relaxed)
            metrics.paused.record(1)
        }
    }

    private func record(_ report: BatchReport, records: [KafkaConsumerMessage]) {
        let now = clock()
        // A topic recreated under an id looked up before: ask for the ids again.
        if !report.staleTopicIDs.isEmpty { incarnations?.forget() }
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

/// How many batches are begun and not finished (prepared, being finished or retried), for the consumer's
/// rebalance barrier, which runs on the poll thread and may block there (never on the cooperative pool:
/// ``begin()`` and ``end()`` only take the lock).
final class BatchInFlight: @unchecked Sendable {
    // `count` is only read or written with `condition` locked.
    private let condition = NSCondition()
    private var count = 0

    func begin() {
        condition.lock()
        count += 1
        condition.unlock()
    }

    func end() {
        condition.lock()
        count -= 1
        precondition(count >= 0, "BatchInFlight.end without begin")
        if count == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Blocks until no batch is in flight. On the consumer's poll thread only.
    func waitUntilIdle() {
        condition.lock()
        while count > 0 { condition.wait() }
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
