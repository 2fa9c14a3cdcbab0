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

    public init(configuration: KafkaProducerConfiguration, logger: Logger = Logger(label: "streamrec.kafka.producer")) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        let context = ProducerContext(logger: logger)
        let conf = try makeKafkaConf(configuration.properties)
        context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message else { return }
            ProducerContext.deliver(message.pointee)
        }
        let handle = HandleBox(try makeKafkaHandle(RD_KAFKA_PRODUCER, conf))
        self.context = context
        self.handle = handle
        let pollTimeout = Int32(max(1, configuration.pollInterval.milliseconds))
        let pollThread = Thread { [context, handle] in
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
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<KafkaDeliveryReport, KafkaError>, Never>) in
            let waiter = DeliveryWaiter.single(continuation)
            if let error = enqueue(message, waiter: waiter, index: 0) {
                continuation.resume(returning: .failure(error))
            }
        }
        return try result.get()
    }

    /// Sends records and waits until each was acknowledged or failed. Results are in input order;
    /// one failing record (queue full, too large) does not fail the others.
    public func send(_ messages: [KafkaProducerMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let batch = BatchDelivery(count: messages.count, continuation: continuation)
            let waiter = DeliveryWaiter.batch(batch)
            for (index, message) in messages.enumerated() {
                if let error = enqueue(message, waiter: waiter, index: index) {
                    batch.complete(index, .failure(error))
                }
            }
        }
    }

    /// Records in librdkafka's queue not yet acknowledged (for metrics and readiness).
    public var queueLength: Int { Int(rd_kafka_outq_len(handle.pointer)) }

    /// A fatal error the producer reported, after which it cannot send (idempotence guarantees lost).
    public var fatalError: KafkaError? { context.fatalError.withLock { $0 } }

    /// Waits until every queued record was acknowledged or failed, up to `timeout`.
    public func flush(timeout: Duration) async throws(KafkaError) {
        let handle = handle
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while rd_kafka_outq_len(handle.pointer) > 0 {
            if ContinuousClock.now >= deadline { throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "flush timed out with \(queueLength) records queued") }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Flushes for up to `flushTimeout`, fails what is still queued (`_PURGE_QUEUE`), stops the poll
    /// thread and destroys the handle. Idempotent.
    public func shutdown(flushTimeout: Duration = .seconds(10)) async {
        do {
            try await flush(timeout: flushTimeout)
        } catch {
            logger.warning("kafka producer shutdown: flush incomplete, purging", metadata: ["queued": "\(queueLength)"])
        }
        closeHandle(flushTimeout: .zero)
    }

    private func closeHandle(flushTimeout: Duration) {
        guard context.isClosed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        rd_kafka_purge(handle.pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        context.stopPolling.store(true, ordering: .releasing)
        while !context.pollThreadDone.withLock({ $0 }) { usleep(1000) }
        rd_kafka_destroy(handle.pointer)
        logger.info("kafka producer closed")
    }

    /// Hands one record to librdkafka. Returns the error if it was not accepted (then no delivery
    /// report will come for it).
    private func enqueue(_ message: KafkaProducerMessage, waiter: DeliveryWaiter, index: Int) -> KafkaError? {
        if context.isClosed.load(ordering: .acquiring) { return .closed }
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
        // The token carries the waiter through librdkafka and back to the delivery callback.
        let token = Unmanaged.passRetained(DeliveryToken(waiter: waiter, index: index)).toOpaque()
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
            Unmanaged<DeliveryToken>.fromOpaque(token).release()
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
    let pollThreadDone = Mutex(false)
    let fatalError = Mutex<KafkaError?>(nil)

    override func handleError(code: Int32, reason: String, handle: OpaquePointer?) {
        if code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let handle {
            var text = [CChar](repeating: 0, count: 512)
            let underlying = rd_kafka_fatal_error(handle, &text, text.count)
            let error = KafkaError(underlying, message: String(cBuffer: text), isFatal: true)
            fatalError.withLock { $0 = error }
            logger.critical("kafka producer fatal error", metadata: ["error": "\(error)"])
        } else {
            super.handleError(code: code, reason: reason, handle: handle)
        }
    }

    /// Called on the poll thread for each record, exactly once, after `enqueue` accepted it.
    static func deliver(_ message: rd_kafka_message_t) {
        guard let token = message._private else { return }
        let delivery = Unmanaged<DeliveryToken>.fromOpaque(token).takeRetainedValue()
        let result: Result<KafkaDeliveryReport, KafkaError>
        if message.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            let topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            result = .success(KafkaDeliveryReport(topic: topic, partition: message.partition, offset: message.offset))
        } else {
            result = .failure(KafkaError(message.err))
        }
        switch delivery.waiter {
        case .single(let continuation): continuation.resume(returning: result)
        case .batch(let batch): batch.complete(delivery.index, result)
        }
    }
}

enum DeliveryWaiter: Sendable {
    case single(CheckedContinuation<Result<KafkaDeliveryReport, KafkaError>, Never>)
    case batch(BatchDelivery)
}

final class DeliveryToken: Sendable {
    let waiter: DeliveryWaiter
    let index: Int
    init(waiter: DeliveryWaiter, index: Int) {
        self.waiter = waiter
        self.index = index
    }
}

/// Collects per-record results of one `send([...])` and resumes its caller when all are in.
final class BatchDelivery: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
    }
    private let state: Mutex<State>
    private let continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
        self.continuation = continuation
    }

    func complete(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        let finished = state.withLock { state -> [Result<KafkaDeliveryReport, KafkaError>]? in
            state.results[index] = result
            state.remaining -= 1
            return state.remaining == 0 ? state.results.map { $0! } : nil
        }
        if let finished { continuation.resume(returning: finished) }
    }
}
