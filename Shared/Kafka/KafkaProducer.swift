import CRdKafka
import ClientRuntime
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// An idempotent Kafka producer over librdkafka.
///
/// `send` returns only after the broker acknowledged the record (librdkafka's delivery report), or
/// throws a ``KafkaError`` saying why not. Records are batched by librdkafka's own queue (`linger`),
/// so many concurrent `send` calls share round trips. A full local queue fails fast with
/// ``KafkaError/isQueueFull`` instead of blocking: that is the backpressure signal.
///
/// Delivery reports are served by a dedicated poll thread, never a NIO event loop or the Swift
/// cooperative pool. Call ``shutdown(flushTimeout:)`` (or run it as a `Service`) to flush before exit.
public final class KafkaProducer: Sendable {
    public let configuration: KafkaProducerConfiguration
    private let context: ProducerContext
    private let handle: HandleBox
    private let logger: Logger

    /// - Parameter onStatistics: librdkafka's statistics, every `statistics.interval.ms` (off unless set in
    ///   the configuration's properties), on a librdkafka thread.
    public init(
        configuration: KafkaProducerConfiguration, logger: Logger = Logger(label: "streamrec.kafka.producer"),
        onStatistics: (@Sendable (KafkaStatistics) -> Void)? = nil
    ) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        let context = ProducerContext(logger: logger)
        try configuration.security.check()
        context.onStatistics.withLock { $0 = onStatistics }
        let conf = try makeKafkaConf(configuration.properties)
        context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message else { return }
            ProducerContext.deliver(message)
        }
        let handle = HandleBox(try makeKafkaHandle(RD_KAFKA_PRODUCER, conf))
        self.context = context
        self.handle = handle
        let pollTimeout = Int32(max(1, configuration.pollInterval.milliseconds))
        let warmUpTimeout = Int32(max(1, min(1000, configuration.deliveryTimeout.milliseconds / 4)))
        let pollThread = Thread { [context, handle] in
            // Learn the cluster's brokers right away. librdkafka otherwise connects lazily, on the first
            // record; the idempotent producer then often finds no broker up for its producer-id request
            // and waits a full 500 ms timer tick before trying again. Bounded well below the delivery
            // timeout, since delivery reports wait while this runs (it takes milliseconds with a broker up).
            var metadata: UnsafePointer<rd_kafka_metadata>?
            if rd_kafka_metadata(handle.pointer, 0, nil, &metadata, warmUpTimeout) == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata {
                rd_kafka_metadata_destroy(metadata)
            }
            while !context.stopPolling.load(ordering: .acquiring) {
                rd_kafka_poll(handle.pointer, pollTimeout)
            }
            // Serve what is left (delivery reports for purged records) so every waiter is resumed.
            while rd_kafka_outq_len(handle.pointer) > 0 {
                rd_kafka_poll(handle.pointer, 10)
            }
            context.pollThreadDone.withLock { $0 = true }
        }
        pollThread.name = "kafka-producer-poll"
        pollThread.start()
        logger.info("kafka producer started", metadata: ["librdkafka": "\(KafkaLibrary.version)", "brokers": "\(configuration.bootstrapServers.joined(separator: ","))"])
    }

    deinit {
        // If shutdown() was not called: stop polling and release the handle. Unresolved sends are
        // failed by the purge inside `close`.
        if !context.isClosed.load(ordering: .acquiring) {
            logger.warning("KafkaProducer deallocated without shutdown(); pending records are purged")
            closeHandle(flushTimeout: .zero)
        }
    }

    /// Sends one record and waits for the broker's acknowledgement.
    @discardableResult
    public func send(_ message: KafkaProducerMessage) async throws(KafkaError) -> KafkaDeliveryReport {
        try await send([message])[0].get()
    }

    /// Sends records and waits until each was acknowledged or failed. Results are in input order;
    /// one failing record (queue full, too large) does not fail the others.
    public func send(_ messages: [KafkaProducerMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let tracker = DeliveryTracker(messages: messages, continuation: continuation)
            // Balanced in DeliveryTracker.finish(): the tracker lives until its last report arrived.
            _ = Unmanaged.passRetained(tracker)
            for index in messages.indices {
                if let error = enqueue(messages[index], opaque: tracker.opaque(for: index)) {
                    tracker.fail(index, error)
                }
            }
        }
    }

    /// Records in librdkafka's queue not yet acknowledged (for metrics and readiness); 0 once closed.
    public var queueLength: Int {
        // Same announce-then-check handshake as `enqueue`, so the handle cannot be destroyed under us.
        context.enqueuesInProgress.add(1, ordering: .sequentiallyConsistent)
        defer { context.enqueuesInProgress.subtract(1, ordering: .sequentiallyConsistent) }
        if context.isClosed.load(ordering: .sequentiallyConsistent) { return 0 }
        return Int(rd_kafka_outq_len(handle.pointer))
    }

    /// A fatal error the producer reported, after which it cannot send (idempotence guarantees lost).
    public var fatalError: KafkaError? { context.fatalError.withLock { $0 } }

    /// Waits until every queued record was acknowledged or failed, up to `timeout`.
    public func flush(timeout: Duration) async throws(KafkaError) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while queueLength > 0 {
            if ContinuousClock.now >= deadline { throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "flush timed out with \(queueLength) records queued") }
            // A cancelled task cannot sleep; stop waiting rather than spin.
            if Task.isCancelled { throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "flush cancelled with \(queueLength) records queued") }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Flushes for up to `flushTimeout`, fails what is still queued (`_PURGE_QUEUE`), stops the poll
    /// thread and destroys the handle. Idempotent.
    public func shutdown(flushTimeout: Duration = .seconds(10)) async {
        guard !context.isClosed.load(ordering: .acquiring) else { return }
        do {
            try await flush(timeout: flushTimeout)
        } catch {
            logger.warning("kafka producer shutdown: flush incomplete, purging", metadata: ["queued": "\(queueLength)"])
        }
        // Closing waits for the poll thread and destroys the handle (blocking librdkafka calls): on a
        // thread of its own, not the caller's (a cooperative-pool or event-loop thread).
        await onDedicatedThread { self.closeHandle(flushTimeout: .zero) }
    }

    private func closeHandle(flushTimeout: Duration) {
        guard context.isClosed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        // A send that passed its closed-check before the flag flipped may still be inside
        // rd_kafka_produceva: wait for it, so the handle is never destroyed under it.
        while context.enqueuesInProgress.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
        rd_kafka_purge(handle.pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        context.stopPolling.store(true, ordering: .releasing)
        while !context.pollThreadDone.withLock({ $0 }) { usleep(1000) }
        rd_kafka_destroy(handle.pointer)
        logger.info("kafka producer closed")
    }

    /// Hands one record to librdkafka. Returns the error if it was not accepted (then no delivery
    /// report will come for it).
    private func enqueue(_ message: KafkaProducerMessage, opaque token: UnsafeMutableRawPointer) -> KafkaError? {
        // Announce the enqueue before checking the flag (sequentially consistent on both sides), so
        // `closeHandle` either sees us in progress or we see it closed.
        context.enqueuesInProgress.add(1, ordering: .sequentiallyConsistent)
        defer { context.enqueuesInProgress.subtract(1, ordering: .sequentiallyConsistent) }
        if context.isClosed.load(ordering: .sequentiallyConsistent) { return .closed }
        if let fatal = context.fatalError.withLock({ $0 }) { return fatal }
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                header.value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                }
            }
        }
        // The token (a slot of the send's DeliveryTracker) travels through librdkafka to the delivery callback.
        let partition = message.partition ?? RD_KAFKA_PARTITION_UA
        let status = message.value.withUnsafeBytes { value in
            if let key = message.key {
                return key.withUnsafeBytes { key in
                    streamrec_produce(
                        handle.pointer, message.topic, partition, key.baseAddress ?? UnsafeRawPointer(bitPattern: 1), key.count,
                        value.baseAddress, value.count, headers, token
                    )
                }
            }
            return streamrec_produce(handle.pointer, message.topic, partition, nil, 0, value.baseAddress, value.count, headers, token)
        }
        guard status == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if let headers { rd_kafka_headers_destroy(headers) }
            return KafkaError(status)
        }
        return nil
    }
}

extension KafkaProducer: Service {
    /// Runs until graceful shutdown is requested, then flushes and closes.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown(flushTimeout: configuration.deliveryTimeout)
    }
}

/// The raw handle, immutable after creation; librdkafka's API is thread-safe for what we call.
final class HandleBox: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

final class ProducerContext: KafkaHandleContext, @unchecked Sendable {
    let stopPolling = Atomic<Bool>(false)
    let isClosed = Atomic<Bool>(false)
    let enqueuesInProgress = Atomic<Int>(0)
    let pollThreadDone = Mutex(false)

    /// Called on the poll thread for each record, exactly once, after `enqueue` accepted it. Takes
    /// librdkafka's pointer, not a copy: `rd_kafka_message_status` finds the record's state from it.
    static func deliver(_ message: UnsafePointer<rd_kafka_message_t>) {
        guard let token = message.pointee._private else { return }
        let slot = token.assumingMemoryBound(to: DeliverySlot.self).pointee
        let tracker = slot.tracker.takeUnretainedValue()
        let error = message.pointee.err
        if error == RD_KAFKA_RESP_ERR_NO_ERROR {
            tracker.succeed(slot.index, partition: message.pointee.partition, offset: message.pointee.offset)
        } else {
            // Sent but unanswered (or purged in flight): the broker may have the record (KafkaError.isOutcomeUnknown).
            let possiblyPersisted = rd_kafka_message_status(message) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED
            tracker.fail(slot.index, KafkaError(deliveryFailure: error.rawValue, possiblyPersisted: possiblyPersisted))
        }
    }
}

/// What librdkafka carries as a record's opaque: which send it belongs to and its position there.
struct DeliverySlot {
    let tracker: Unmanaged<DeliveryTracker>
    let index: Int
}

/// Collects the delivery reports of one `send` call and resumes its caller when all are in.
///
/// The hot path is lock-free: each record's partition and offset are written once into its own
/// position, and an atomic countdown publishes them; failures (rare) go through a lock.
final class DeliveryTracker: @unchecked Sendable {
    private let messages: [KafkaProducerMessage]
    private let continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>
    private let slots: UnsafeMutableBufferPointer<DeliverySlot>
    private let partitions: UnsafeMutableBufferPointer<Int32>
    private let offsets: UnsafeMutableBufferPointer<Int64>
    private let failures = Mutex<[Int: KafkaError]>([:])
    private let remaining: Atomic<Int>

    init(messages: [KafkaProducerMessage], continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>) {
        self.messages = messages
        self.continuation = continuation
        remaining = Atomic(messages.count)
        slots = .allocate(capacity: messages.count)
        partitions = .allocate(capacity: messages.count)
        offsets = .allocate(capacity: messages.count)
        let unretained = Unmanaged.passUnretained(self)
        for index in messages.indices {
            (slots.baseAddress! + index).initialize(to: DeliverySlot(tracker: unretained, index: index))
        }
    }

    deinit {
        slots.deallocate()
        partitions.deallocate()
        offsets.deallocate()
    }

    func opaque(for index: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(slots.baseAddress! + index)
    }

    func succeed(_ index: Int, partition: Int32, offset: Int64) {
        partitions[index] = partition
        offsets[index] = offset
        countDown()
    }

    func fail(_ index: Int, _ error: KafkaError) {
        failures.withLock { $0[index] = error }
        countDown()
    }

    private func countDown() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { finish() }
    }

    private func finish() {
        let failures = failures.withLock { $0 }
        let results = messages.indices.map { index -> Result<KafkaDeliveryReport, KafkaError> in
            if let error = failures[index] { return .failure(error) }
            return .success(KafkaDeliveryReport(topic: messages[index].topic, partition: partitions[index], offset: offsets[index]))
        }
        continuation.resume(returning: results)
        Unmanaged.passUnretained(self).release()
    }
}
