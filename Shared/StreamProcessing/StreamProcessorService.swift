#if canImport(Glibc)
import Glibc
#endif
import ClientRuntime
import Events
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
    }

    /// Next offset to read per partition, as committed by this member so far.
    public var committedOffsets: [KafkaTopicPartition: Int64] { committed.withLock { $0 } }

    /// True while a batch is being retried because a dependency failed.
    public var isPaused: Bool { paused.load(ordering: .relaxed) }

    public func run() async throws {
        try consumer.subscribe(topics: topics)
        logger.info("consuming", metadata: ["topics": "\(topics)", "group": "\(consumer.configuration.groupID)"])
        do {
            for try await records in consumer.batches.cancelOnGracefulShutdown() {
                guard let report = try await processWithRetry(records) else { break }
                do {
                    let commitStarted = ContinuousClock.now
                    try await consumer.commit(records)
                    metrics.stage("commit").recordNanoseconds((ContinuousClock.now - commitStarted).nanoseconds)
                } catch {
                    // Stored offsets are committed with the next commit or on revoke; a replay of this
                    // batch would change nothing anyway.
                    logger.warning("offset commit failed; will be retried with the next batch", metadata: ["error": "\(error)"])
                    metrics.commitFailures.increment()
                }
                record(report, records: records)
            }
        } catch let error as KafkaError where !error.isFatal {
            logger.warning("consumer stopped", metadata: ["error": "\(error)"])
        }
        await consumer.close()
        logger.info("stream processor stopped")
    }

    /// Applies the batch, retrying while dependencies fail. Returns nil if shutdown came first (the
    /// batch is then neither applied completely nor committed, and the next owner replays it).
    private func processWithRetry(_ records: [KafkaConsumerMessage]) async throws -> BatchReport? {
        // Log ends as fetched with these records: lets the feature writer tell a recreated topic from a replay.
        let partitions = Array(Set(records.map(\.topicPartition)))
        let highs = (try? consumer.fetchedHighWatermarks(for: partitions)) ?? [:]
        let logEnds = Dictionary(uniqueKeysWithValues: highs.map { (RecordPosition.partitionField(topic: $0.key.topic, partition: $0.key.partition), $0.value) })
        let topicIDs = await incarnations?.ids(for: Set(partitions.map(\.topic))) ?? [:]
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
            let report = try await processor.process(records, now: clock(), logEnds: logEnds, topicIDs: topicIDs)
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
