import Events
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Publishes a `recommendation.served` record (``RecommendationServed``) for every answer, off the request
/// path: a route only appends to a bounded queue in memory (one lock, no I/O, no encoding), and this
/// service drains it to Kafka in batches through the project's `KafkaProducer`.
///
/// Cheap per answer, because the API pays it on every request (issue 23, docs/benchmarks.md): each record
/// is written straight to bytes (no JSON tree), the drain hands everything queued to librdkafka in one
/// call, and the producer lingers 100 ms, so the drain wakes, and librdkafka and the broker handle a
/// produce request, about ten times a second under load instead of per answer or per few answers.
///
/// It never delays or fails an answer: a full queue drops the new record, a batch the broker did not
/// acknowledge is dropped too, and both are counted (`streamrec_api_impressions_dropped_total{reason}`).
/// Impressions are measurements, not the user's data: losing some while the broker is down biases no
/// variant (every variant loses alike) and is preferable to holding memory or answers. The producer is not
/// idempotent (`acks=1`): a producer id the broker forgot after a restart cannot wedge it, and a record
/// written twice is counted once downstream, by `recommendation_id`. After a failed batch it makes sure the
/// topic exists again (a broker that lost its topics), at most every few seconds, so it heals by itself.
public final class ImpressionEmitter: Service, Sendable {
    public struct Configuration: Sendable, Hashable {
        /// `topics.recommendation_served`.
        public var topic: String
        /// Records held in memory before new ones are dropped (`inference.impressions_queue`). The drain
        /// hands all of them to the producer in one call, so this also bounds a call.
        public var queueCapacity: Int
        /// Partitions and replication factor of the topic when this service creates it (`topics.partitions`,
        /// `topics.replication_factor`).
        public var partitions: Int
        public var replicationFactor: Int
        public var producer: KafkaProducerConfiguration

        public init(
            topic: String = RecommendationServed.defaultTopic, queueCapacity: Int = 10_000, partitions: Int = 6, replicationFactor: Int = 1,
            producer: KafkaProducerConfiguration
        ) {
            self.topic = topic
            self.queueCapacity = queueCapacity
            self.partitions = partitions
            self.replicationFactor = replicationFactor
            self.producer = producer
        }

        /// The producer the API uses for impressions: not idempotent, leader acknowledgement, a short delivery
        /// timeout (a batch waiting on a dead broker holds the drain for at most this long; the queue bounds
        /// the rest). It lingers 100 ms (the event producers: 1–5 ms): an impression is read by the processor
        /// well after that anyway (a user's next interaction comes seconds later), and at thousands of
        /// answers a second 100 ms instead of 20 ms makes fewer, larger batches: less CPU per record in
        /// librdkafka and in the broker (docs/benchmarks.md, issue 23). lz4 as everywhere (the default).
        public static func producer(
            bootstrapServers: [String], security: KafkaSecurity, additionalProperties: [String: String] = [:]
        ) -> KafkaProducerConfiguration {
            KafkaProducerConfiguration(
                bootstrapServers: bootstrapServers, clientID: "inference-api-impressions", security: security, enableIdempotence: false, acks: "1",
                linger: .milliseconds(100), queueMaxMessages: 20_000, deliveryTimeout: .seconds(5), additionalProperties: additionalProperties
            )
        }
    }

    /// Counts since start (the same figures as the Prometheus counters, for tests and logs).
    public struct Statistics: Sendable, Hashable {
        public var offered: Int
        public var emitted: Int
        public var droppedQueueFull: Int
        public var droppedDeliveryFailed: Int
        public var dropped: Int { droppedQueueFull + droppedDeliveryFailed }
    }

    private struct State {
        var pending: [RecommendationServed] = []
        var waiter: CheckedContinuation<Void, Never>?
        var stopping = false
    }

    public let configuration: Configuration
    private let producer: KafkaProducer
    private let state = Mutex(State())
    private let offered = Atomic<Int>(0)
    private let emitted = Atomic<Int>(0)
    private let droppedQueueFull = Atomic<Int>(0)
    private let droppedDeliveryFailed = Atomic<Int>(0)
    private let emittedCounter: Counter
    private let queueFullCounter: Counter
    private let deliveryFailedCounter: Counter
    private let logger: Logger

    public init(configuration: Configuration, metricsFactory: any MetricsFactory, logger: Logger) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        producer = try KafkaProducer(configuration: configuration.producer, logger: logger)
        emittedCounter = Counter(label: "streamrec_api_impressions_emitted_total", factory: metricsFactory)
        queueFullCounter = Counter(label: "streamrec_api_impressions_dropped_total", dimensions: [("reason", "queue_full")], factory: metricsFactory)
        deliveryFailedCounter = Counter(label: "streamrec_api_impressions_dropped_total", dimensions: [("reason", "delivery_failed")], factory: metricsFactory)
    }

    public var statistics: Statistics {
        Statistics(
            offered: offered.load(ordering: .relaxed), emitted: emitted.load(ordering: .relaxed),
            droppedQueueFull: droppedQueueFull.load(ordering: .relaxed), droppedDeliveryFailed: droppedDeliveryFailed.load(ordering: .relaxed)
        )
    }

    /// Queues one record; never waits. Returns false (and counts it) when the queue is full or the
    /// service is stopping.
    @discardableResult
    public func offer(_ record: RecommendationServed) -> Bool {
        offered.add(1, ordering: .relaxed)
        let capacity = configuration.queueCapacity
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.stopping, state.pending.count < capacity else { return (false, nil) }
            state.pending.append(record)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        if !accepted {
            droppedQueueFull.add(1, ordering: .relaxed)
            queueFullCounter.increment()
        }
        return accepted
    }

    public func run() async throws {
        await ensureTopic()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                var lastTopicCheck = ContinuousClock.now
                var failing = false
                // One producer call per wake-up with everything queued (at most the queue's capacity): calls in
                // series of a fixed size would cap the rate at size / linger, and each call costs a delivery
                // tracker and a resumption. While a call waits for its acknowledgements (about the linger),
                // new records gather in the queue: that wait is what paces the drain.
                while let queued = await nextQueued() {
                    let ok = await send(queued)
                    if !ok, !failing {
                        failing = true
                        logger.warning("recommendation.served records are being dropped: the broker did not acknowledge them", metadata: ["topic": "\(configuration.topic)"])
                    } else if ok, failing {
                        failing = false
                        logger.info("recommendation.served records are acknowledged again", metadata: ["topic": "\(configuration.topic)"])
                    }
                    if !ok, ContinuousClock.now - lastTopicCheck > .seconds(3) {
                        lastTopicCheck = ContinuousClock.now
                        await ensureTopic()
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        await producer.shutdown(flushTimeout: .seconds(2))
    }

    /// Stops accepting records; `run` sends what is queued and returns.
    public func stop() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopping = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits for queued records and takes them all (the queue is swapped for an empty one: the lock that
    /// requests take is held for no copy), or nil once stopping with nothing left.
    private func nextQueued() async -> [RecommendationServed]? {
        while true {
            enum Step { case batch([RecommendationServed]), stop, wait }
            let step = state.withLock { state -> Step in
                if !state.pending.isEmpty {
                    defer { state.pending = [] }
                    return .batch(state.pending)
                }
                return state.stopping ? .stop : .wait
            }
            switch step {
            case .batch(let batch): return batch
            case .stop: return nil
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if !state.pending.isEmpty || state.stopping { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    static let headers = [
        KafkaHeader(name: EventHeaders.schemaVersion, value: String(RecommendationServed.schemaVersion)),
        KafkaHeader(name: EventHeaders.eventType, value: RecommendationServed.recordType),
        KafkaHeader(name: EventHeaders.contentType, value: EventHeaders.jsonContentType),
    ]

    /// Sends one batch keyed by user (a user's impressions stay in order, in the partition the processor's
    /// member owning that user reads); true when every record was acknowledged.
    private func send(_ batch: [RecommendationServed]) async -> Bool {
        let messages = batch.map {
            // canonicalJSON writes the bytes directly (no JSON tree): the encoding is most of this loop's cost.
            KafkaProducerMessage(topic: configuration.topic, key: Array($0.userID.utf8), value: $0.canonicalJSON(), headers: Self.headers)
        }
        let results = await producer.send(messages)
        var failed = 0
        for result in results {
            if case .failure = result { failed += 1 }
        }
        let acknowledged = results.count - failed
        if acknowledged > 0 {
            emitted.add(acknowledged, ordering: .relaxed)
            emittedCounter.increment(by: acknowledged)
        }
        if failed > 0 {
            droppedDeliveryFailed.add(failed, ordering: .relaxed)
            deliveryFailedCounter.increment(by: failed)
        }
        return failed == 0
    }

    /// Creates the topic if the broker does not have it; a broker that is down only delays this.
    private func ensureTopic() async {
        do {
            let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(for: configuration.producer, requestTimeout: .seconds(3)), logger: logger)
            defer { Task { await admin.shutdown() } }
            // createTopics leaves an existing topic as it is.
            _ = try await admin.createTopics([
                KafkaTopicSpecification.durable(name: configuration.topic, partitions: configuration.partitions, replicationFactor: configuration.replicationFactor)
            ])
        } catch {
            logger.debug("could not make sure the recommendation.served topic exists", metadata: ["error": "\(error)"])
        }
    }
}
