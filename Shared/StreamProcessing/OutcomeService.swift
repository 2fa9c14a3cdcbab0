import ClientRuntime
import Events
import Features
import Kafka
import Logging
import Metrics
import Outcomes
import ServiceLifecycle
import ServiceSupport

/// The processor's second consumer (its own group, `<group>.outcomes`): reads the API's impressions
/// (`recommendation.served`) and the event topics, and keeps the experiments' outcome counters through
/// ``OutcomeWriter``. Apart from the feature path on purpose: a slow or failing outcome step never holds
/// features back, and the counters' exactly-once rests on their own offsets in Redis.
///
/// Records it cannot read are skipped and counted (the feature path dead-letters bad events; a bad
/// impression is the API's bug, not the user's data). While Redis fails, the batch is retried with
/// backoff and nothing is committed, as on the feature path.
public final class OutcomeService: Service, Sendable {
    private let consumer: KafkaConsumer
    private let writer: OutcomeWriter
    private let recordCheck: EventRecordCheck
    private let eventTopics: EventTopics
    private let activity: ExperimentActivity
    private let incarnations: TopicIncarnations?
    private let impressionTopic: String
    private let topics: [String]
    private let retryBackoff: Backoff
    private let metrics: OutcomeMetrics
    private let logger: Logger

    public init(
        consumer: KafkaConsumer, writer: OutcomeWriter, eventTopics: EventTopics, impressionTopic: String, maximumRecordBytes: Int, retryBackoff: Backoff,
        metrics: OutcomeMetrics, logger: Logger, activity: ExperimentActivity, incarnations: TopicIncarnations? = nil
    ) {
        self.eventTopics = eventTopics
        self.activity = activity
        self.incarnations = incarnations
        self.consumer = consumer
        self.writer = writer
        recordCheck = EventRecordCheck(topics: eventTopics, maximumRecordBytes: maximumRecordBytes)
        self.impressionTopic = impressionTopic
        topics = [impressionTopic] + eventTopics.all
        self.retryBackoff = retryBackoff
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        try consumer.subscribe(topics: topics)
        logger.info("counting experiment outcomes", metadata: ["topics": "\(topics)", "group": "\(consumer.configuration.groupID)"])
        do {
            for try await records in consumer.batches.cancelOnGracefulShutdown() {
                let (taken, experiments) = await decode(records)
                let topicIDs = await incarnations?.ids(for: Set(records.map(\.topic))) ?? [:]
                guard let outcome = await applyWithRetry(taken, experiments: experiments, topicIDs: topicIDs) else { break }
                do {
                    try await consumer.commit(records)
                } catch {
                    // Replaying the batch later changes nothing: its offsets are applied in Redis.
                    logger.warning("outcome offset commit failed; will be retried with the next batch", metadata: ["error": "\(error)"])
                }
                metrics.record(outcome)
            }
        } catch let error as KafkaError where !error.isFatal {
            logger.warning("outcome consumer stopped", metadata: ["error": "\(error)"])
        }
        await consumer.close()
        logger.info("outcome counting stopped")
    }

    /// Impressions first, then the events of domains with an experiment to credit (``ExperimentActivity``);
    /// the other domains' events are skipped undecoded.
    func decode(_ records: [KafkaConsumerMessage]) async -> ([OutcomeWriter.Record], [EventDomain: Set<String>]) {
        var taken: [OutcomeWriter.Record] = []
        taken.reserveCapacity(records.count)
        var named: Set<String> = []
        for record in records where record.topic == impressionTopic {
            do {
                let served = try RecommendationServed.decode(record.value)
                if let experiment = served.experimentID { named.insert(experiment) }
                taken.append(.impression(served, RecordPosition(topic: record.topic, partition: record.partition, offset: record.offset)))
            } catch {
                metrics.skipped("invalid_impression").increment()
            }
        }
        let experiments = await activity.experiments(named: named)
        let topics = Set(experiments.filter { !$0.value.isEmpty }.keys.map { eventTopics.topic(for: $0) })
        var inactive = 0
        for record in records where record.topic != impressionTopic {
            guard topics.contains(record.topic) else {
                inactive += 1
                continue
            }
            switch recordCheck.check(value: record.value, schemaVersion: record.header(EventHeaders.schemaVersion)?.stringValue, topic: record.topic) {
            case .success(let event): taken.append(.interaction(event, RecordPosition(topic: record.topic, partition: record.partition, offset: record.offset)))
            case .failure: metrics.skipped("invalid_event").increment()
            }
        }
        if inactive > 0 { metrics.skipped("no_experiment").increment(by: Int64(inactive)) }
        return (taken, experiments)
    }

    /// Nil if shutdown came first (nothing committed; the next owner replays the batch).
    private func applyWithRetry(_ records: [OutcomeWriter.Record], experiments: [EventDomain: Set<String>], topicIDs: [String: String]) async -> OutcomeWriter.Outcome? {
        await retryUntilShutdown(backoff: retryBackoff) { failures, error in
            metrics.failures.increment()
            if failures == 1 { logger.error("outcome batch failed; retrying without committing", metadata: ["error": "\(error)"]) }
        } recovered: { attempts in
            logger.info("redis is back; outcomes applied", metadata: ["attempts": "\(attempts)"])
        } _: {
            try await writer.apply(records, experiments: experiments, topicIDs: topicIDs)
        }
    }
}

/// The outcome counters as Prometheus sees them: `streamrec_experiment_outcomes_total{experiment, variant,
/// strategy, metric}` counts what this instance applied (sum over instances; a replay adds nothing).
public struct OutcomeMetrics: Sendable {
    let factory: any MetricsFactory
    let failures: Counter
    let replayed: Counter
    private let cache = MetricCache()

    public init(factory: any MetricsFactory) {
        self.factory = factory
        failures = Counter(label: "streamrec_processor_outcome_batch_failures_total", factory: factory)
        replayed = Counter(label: "streamrec_processor_outcome_replayed_total", factory: factory)
    }

    func skipped(_ reason: String) -> Counter {
        cache.counter("streamrec_processor_outcome_skipped_total", [("reason", reason)], factory: factory)
    }

    func record(_ outcome: OutcomeWriter.Outcome) {
        if outcome.replayed > 0 { replayed.increment(by: Int64(outcome.replayed)) }
        for counted in outcome.counted {
            cache.counter(
                "streamrec_experiment_outcomes_total",
                [("experiment", counted.experiment), ("variant", counted.variant), ("strategy", counted.strategy), ("metric", counted.metric)], factory: factory
            ).increment(by: counted.increment)
        }
    }
}
