import CRdKafka
import ClientRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// A member of a Kafka consumer group, over librdkafka's high-level consumer.
///
/// Records arrive as batches from ``batches`` (an `AsyncSequence`). Nothing is committed
/// automatically: after applying a batch, call ``commit(_:)`` (store and commit now) or
/// ``storeOffsets(_:)`` (commit later with ``commit()``). When partitions are revoked in a rebalance,
/// offsets stored for them are committed before they are released, so the next owner resumes right
/// after the last applied record: at-least-once, with no gap.
///
/// All polling runs on one dedicated thread, and only while someone awaits the next batch.
public final class KafkaConsumer: Sendable {
    public let configuration: KafkaConsumerConfiguration
    private let context: ConsumerContext
    private let handle: HandleBox
    /// One thread: polls, commits and close are serialised on it, as librdkafka's consumer prefers.
    private let pollExecutor: BlockingExecutor
    private let logger: Logger

    /// - Parameters:
    ///   - onRebalance: called on the poll thread after each assignment change was applied.
    ///   - onStatistics: librdkafka's statistics, every `statistics.interval.ms` (off unless set in the
    ///     configuration's properties), on the poll thread.
    public init(
        configuration: KafkaConsumerConfiguration,
        logger: Logger = Logger(label: "streamrec.kafka.consumer"),
        onRebalance: (@Sendable (KafkaRebalanceEvent) -> Void)? = nil,
        onStatistics: (@Sendable (KafkaStatistics) -> Void)? = nil
    ) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        let context = ConsumerContext(logger: logger, onRebalance: onRebalance)
        try configuration.security.check()
        context.onStatistics.withLock { $0 = onStatistics }
        let conf = try makeKafkaConf(configuration.properties)
        context.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf) { handle, error, partitions, opaque in
            guard let handle, let context = KafkaHandleContext.from(opaque) as? ConsumerContext else { return }
            context.rebalance(handle: handle, error: error, partitions: partitions)
        }
        let handle = HandleBox(try makeKafkaHandle(RD_KAFKA_CONSUMER, conf))
        // Route all events (errors, rebalances) to the consumer queue served by consumer_poll.
        rd_kafka_poll_set_consumer(handle.pointer)
        self.context = context
        self.handle = handle
        pollExecutor = BlockingExecutor(threads: 1)
        logger.info("kafka consumer created", metadata: ["group": "\(configuration.groupID)", "librdkafka": "\(KafkaLibrary.version)"])
    }

    deinit {
        if !context.isClosed.load(ordering: .acquiring) {
            logger.warning("KafkaConsumer deallocated without close(); destroying without commit")
            rd_kafka_destroy(handle.pointer)
        }
    }

    /// Joins the group for these topics. Partitions are assigned on the next polls.
    public func subscribe(topics: [String]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let error = rd_kafka_subscribe(handle.pointer, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error) }
    }

    /// Batches of records, at most ``KafkaConsumerConfiguration/maxBatchSize`` each. The sequence ends
    /// when the consumer is closed or the iterating task is cancelled; it throws on fatal errors.
    public var batches: KafkaMessageBatches { KafkaMessageBatches(consumer: self) }

    /// The next batch, as ``batches`` gives it, unless `giveUp` is stopped before the batch's first record
    /// arrived: then an empty batch, within 10 ms of the stop. For reading the next batch while the last one
    /// is still being applied (the poll thread is then free for that batch's commit soon after it is done).
    /// Nil when the consumer is closed or the calling task cancelled with nothing read.
    public func nextBatch(unless giveUp: KafkaPollStop?) async throws(KafkaError) -> [KafkaConsumerMessage]? {
        try await nextBatch(cancelled: CancellationFlag(), stopEarly: giveUp)
    }

    /// Sets what a rebalance waits for on the poll thread before it commits stored offsets and changes the
    /// assignment: an application that reads its next batch while one is still applied (``nextBatch(unless:)``)
    /// returns from `barrier` once no batch is being applied, so a revoke commits every applied record and
    /// never hands a partition over while its records are still being written.
    public func setRebalanceBarrier(_ barrier: @escaping @Sendable () -> Void) {
        context.rebalanceBarrier.withLock { $0 = barrier }
    }

    /// Partitions currently owned by this member.
    public var assignment: [KafkaTopicPartition] { context.state.withLock { $0.assigned.sorted() } }

    /// Remembers that these records were applied; committed by ``commit()`` or on revoke.
    public func storeOffsets(_ messages: some Sequence<KafkaConsumerMessage>) {
        context.store(messages)
    }

    /// Stores these records as applied and commits all stored offsets synchronously.
    public func commit(_ messages: some Sequence<KafkaConsumerMessage>) async throws(KafkaError) {
        context.store(messages)
        try await commit()
    }

    /// Commits stored offsets of owned partitions synchronously (the broker acknowledged on return).
    public func commit() async throws(KafkaError) {
        let handle = handle
        let context = context
        try await runOnPollThread { () throws(KafkaError) in try context.commitStored(handle: handle.pointer, only: nil) }
    }

    /// The group's committed offset (next record to read) per partition, as the broker reports it.
    public func committedOffsets(
        for partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)
    ) async throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        let handle = handle
        return try await runOnPollThread { () throws(KafkaError) -> [KafkaTopicPartition: Int64] in
            let list = makePartitionList(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let error = rd_kafka_committed(handle.pointer, list, Int32(timeout.milliseconds))
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error) }
            var result: [KafkaTopicPartition: Int64] = [:]
            for element in partitionElements(list) where element.offset >= 0 {
                result[KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)] = element.offset
            }
            return result
        }
    }

    /// The high watermark (offset after the last record) per partition, as carried by the latest fetch
    /// responses: no broker round trip. Partitions not fetched yet are absent. Used for lag, because
    /// a latest-offset query is not reliable on every broker (the local Tansu one answers wrongly).
    ///
    /// Read on the caller's thread, not the poll thread: while no records arrive that thread stays inside
    /// `rd_kafka_consumer_poll`, and lag must be readable exactly then (it was not: the lag gauges of an idle
    /// processor never appeared). The call only reads librdkafka's cache under its own locks; the handle is
    /// kept alive for it by ``ConsumerContext/withLiveHandle(_:)``.
    public func fetchedHighWatermarks(for partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        let handle = handle
        return try context.withLiveHandle { () throws(KafkaError) -> [KafkaTopicPartition: Int64] in
            var result: [KafkaTopicPartition: Int64] = [:]
            for partition in partitions {
                var low: Int64 = -1
                var high: Int64 = -1
                let error = rd_kafka_get_watermark_offsets(handle.pointer, partition.topic, partition.partition, &low, &high)
                if error == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 { result[partition] = high }
            }
            return result
        }
    }

    /// Stops fetching from all owned partitions (records already fetched are still handed out).
    public func pause() async throws(KafkaError) {
        try await setPaused(true)
    }

    public func resume() async throws(KafkaError) {
        try await setPaused(false)
    }

    /// Leaves the group: stored offsets are committed (through the revoke callback), then the handle is
    /// destroyed. A pending ``batches`` iteration ends. Idempotent.
    public func close() async {
        guard context.isClosed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let handle = handle
        let logger = logger
        let context = context
        _ = try? await pollExecutor.run {
            let error = rd_kafka_consumer_close(handle.pointer)
            if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning("kafka consumer close", metadata: ["error": "\(KafkaError(error))"])
            }
            context.markHandleDestroyed()
            rd_kafka_destroy(handle.pointer)
        }
        await pollExecutor.shutdown()
        logger.info("kafka consumer closed")
    }

    // MARK: - Internals

    private func setPaused(_ paused: Bool) async throws(KafkaError) {
        let handle = handle
        let partitions = assignment
        try await runOnPollThread { () throws(KafkaError) in
            let list = makePartitionList(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let error = paused ? rd_kafka_pause_partitions(handle.pointer, list) : rd_kafka_resume_partitions(handle.pointer, list)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error) }
        }
    }

    private func runOnPollThread<Result: Sendable>(
        _ work: @escaping @Sendable () throws(KafkaError) -> Result
    ) async throws(KafkaError) -> Result {
        if context.isClosed.load(ordering: .acquiring) { throw .closed }
        let context = context
        do {
            // Checked again on the poll thread: close() may have been queued in between, and the
            // handle is destroyed by the time work queued behind it runs.
            return try await pollExecutor.run { () throws -> Result in
                if context.handleDestroyed.load(ordering: .acquiring) { throw KafkaError.closed }
                return try work()
            }
        } catch let error as KafkaError {
            throw error
        } catch {
            throw .closed
        }
    }

    /// Blocks on the poll thread until at least one record arrived (or close/cancel), then gathers
    /// more for up to `batchLinger`.
    func nextBatch(cancelled: CancellationFlag, stopEarly: KafkaPollStop? = nil) async throws(KafkaError) -> [KafkaConsumerMessage]? {
        if context.isClosed.load(ordering: .acquiring) { return nil }
        let handle = handle
        let context = context
        let configuration = configuration
        do {
            return try await withTaskCancellationHandler {
                try await runOnPollThread { () throws(KafkaError) -> [KafkaConsumerMessage]? in
                    try context.pollBatch(handle: handle.pointer, configuration: configuration, cancelled: cancelled, stopEarly: stopEarly)
                }
            } onCancel: {
                cancelled.set()
            }
        } catch let error as KafkaError where error == .closed {
            return nil  // closed while waiting: the sequence simply ends
        } catch let error as KafkaError {
            throw error
        } catch {
            return nil
        }
    }
}

extension KafkaConsumer: Service {
    /// Waits for graceful shutdown, then closes (committing stored offsets). Iterate ``batches`` in
    /// another service or task.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

/// The `AsyncSequence` of record batches of one consumer.
public struct KafkaMessageBatches: AsyncSequence, Sendable {
    public typealias Element = [KafkaConsumerMessage]
    let consumer: KafkaConsumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer
        let cancelled = CancellationFlag()

        public mutating func next() async throws -> [KafkaConsumerMessage]? {
            try await consumer.nextBatch(cancelled: cancelled)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer) }
}

final class ConsumerContext: KafkaHandleContext, @unchecked Sendable {
    struct State {
        var assigned: Set<KafkaTopicPartition> = []
        /// Next offset to read per partition, for records the application applied.
        var stored: [KafkaTopicPartition: Int64] = [:]
        var committed: [KafkaTopicPartition: Int64] = [:]
    }

    let state = Mutex(State())
    let isClosed = Atomic<Bool>(false)
    /// Set on the poll thread right before `rd_kafka_destroy` (``markHandleDestroyed()``); work queued
    /// later, and calls made off the poll thread, must not touch the handle.
    let handleDestroyed = Atomic<Bool>(false)
    /// Held by calls made off the poll thread while they use the handle; taken to mark it destroyed, so
    /// none is inside when `rd_kafka_destroy` runs.
    private let handleUse = Mutex(())
    let onRebalance: (@Sendable (KafkaRebalanceEvent) -> Void)?
    /// See ``KafkaConsumer/setRebalanceBarrier(_:)``.
    let rebalanceBarrier = Mutex<(@Sendable () -> Void)?>(nil)

    init(logger: Logger, onRebalance: (@Sendable (KafkaRebalanceEvent) -> Void)?) {
        self.onRebalance = onRebalance
        super.init(logger: logger)
    }

    /// Runs `body` if the handle is not destroyed (and keeps it from being destroyed meanwhile); else
    /// ``KafkaError/closed``. For short non-blocking calls only.
    func withLiveHandle<Result>(_ body: () throws(KafkaError) -> Result) throws(KafkaError) -> Result {
        try handleUse.withLock { _ throws(KafkaError) -> Result in
            if handleDestroyed.load(ordering: .acquiring) { throw KafkaError.closed }
            return try body()
        }
    }

    /// On the poll thread, right before `rd_kafka_destroy`.
    func markHandleDestroyed() {
        handleUse.withLock { _ in handleDestroyed.store(true, ordering: .releasing) }
    }

    func store(_ messages: some Sequence<KafkaConsumerMessage>) {
        state.withLock { state in
            for message in messages {
                let partition = message.topicPartition
                // Records of partitions no longer owned are dropped: the new owner re-reads them.
                guard state.assigned.contains(partition) else { continue }
                if message.offset + 1 > state.stored[partition, default: -1] {
                    state.stored[partition] = message.offset + 1
                }
            }
        }
    }

    /// Commits stored, not yet committed offsets (of `only` these partitions, if given). Blocking.
    func commitStored(handle: OpaquePointer, only: Set<KafkaTopicPartition>?) throws(KafkaError) {
        let pending = state.withLock { state in
            state.stored.filter { partition, offset in
                (only?.contains(partition) ?? state.assigned.contains(partition)) && state.committed[partition] != offset
            }
        }
        guard !pending.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(pending.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (partition, offset) in pending {
            rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition).pointee.offset = offset
        }
        let error = rd_kafka_commit(handle, list, 0)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error) }
        for element in partitionElements(list) where element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(element.err)
        }
        state.withLock { state in
            for (partition, offset) in pending { state.committed[partition] = offset }
        }
    }

    /// The rebalance callback, on the poll thread inside `rd_kafka_consumer_poll`.
    func rebalance(handle: OpaquePointer, error: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        // NULL when the group's state cannot be asked (seen while a consumer was closing, which revokes its
        // partitions through this callback): an eager revoke, which unassigns everything, is then right.
        let cooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
        let changed = partitions.map { partitionElements($0) }?.map {
            KafkaTopicPartition(topic: String(cString: $0.topic), partition: $0.partition)
        } ?? []
        // Blocks this thread (the poll thread, not the pool) until no batch is being applied: its offsets
        // are stored by then, so the commit below includes them.
        rebalanceBarrier.withLock { $0 }?()
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let failure = rd_kafka_incremental_assign(handle, partitions) { logAssignFailure(KafkaError(consuming: failure)) }
            } else {
                let status = rd_kafka_assign(handle, partitions)
                if status != RD_KAFKA_RESP_ERR_NO_ERROR { logAssignFailure(KafkaError(status)) }
            }
            state.withLock { state in
                if !cooperative { state.assigned.removeAll() }
                state.assigned.formUnion(changed)
                for partition in changed {
                    state.stored[partition] = nil
                    state.committed[partition] = nil
                }
            }
            logger.info("kafka partitions assigned", metadata: ["partitions": "\(changed.sorted())"])
            onRebalance?(.assigned(changed))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            // Commit what was applied before letting go, so the next owner does not re-apply it
            // needlessly (re-application is still safe: consumers apply idempotently).
            do {
                try commitStored(handle: handle, only: Set(changed))
            } catch {
                logger.warning("kafka commit on revoke failed; records will be re-delivered", metadata: ["error": "\(error)"])
            }
            if cooperative {
                if let failure = rd_kafka_incremental_unassign(handle, partitions) { logAssignFailure(KafkaError(consuming: failure)) }
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
            state.withLock { state in
                state.assigned.subtract(changed)
                for partition in changed {
                    state.stored[partition] = nil
                    state.committed[partition] = nil
                }
            }
            logger.info("kafka partitions revoked", metadata: ["partitions": "\(changed.sorted())"])
            onRebalance?(.revoked(changed))
        default:
            logger.error("kafka rebalance error", metadata: ["error": "\(KafkaError(error))"])
            _ = rd_kafka_assign(handle, nil)
            state.withLock { $0.assigned.removeAll() }
        }
    }

    private func logAssignFailure(_ error: KafkaError) {
        logger.error("kafka assignment failed", metadata: ["error": "\(error)"])
    }

    func pollBatch(
        handle: OpaquePointer, configuration: KafkaConsumerConfiguration, cancelled: CancellationFlag, stopEarly: KafkaPollStop? = nil
    ) throws(KafkaError) -> [KafkaConsumerMessage]? {
        var batch: [KafkaConsumerMessage] = []
        var pollTimeout = Int32(max(1, configuration.pollInterval.milliseconds))
        // A read that may be given up (the batch before it is being applied) looks at its stop often: once that
        // batch is done it waits for its commit.
        if stopEarly != nil { pollTimeout = min(pollTimeout, 10) }
        var lingerDeadline: ContinuousClock.Instant?
        var bytes = 0
        while batch.count < configuration.maxBatchSize, bytes < configuration.maxBatchBytes {
            if isClosed.load(ordering: .acquiring) || cancelled.isSet {
                return batch.isEmpty ? nil : batch
            }
            if let fatal = fatalError.withLock({ $0 }) { throw fatal }
            if batch.isEmpty, stopEarly?.isStopped == true { return [] }
            let timeout: Int32
            if let lingerDeadline {
                let left = ContinuousClock.now.duration(to: lingerDeadline)
                if left <= .zero { break }
                timeout = Int32(max(0, left.milliseconds))
            } else {
                timeout = pollTimeout
            }
            guard let raw = rd_kafka_consumer_poll(handle, timeout) else {
                if lingerDeadline != nil { break }
                continue
            }
            defer { rd_kafka_message_destroy(raw) }
            let message = raw.pointee
            if message.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if message.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                let error = KafkaError(message.err, message: message.payload.map {
                    String(decoding: UnsafeRawBufferPointer(start: $0, count: message.len), as: UTF8.self)
                })
                if error.isFatal { throw error }
                logger.warning("kafka consume error", metadata: ["error": "\(error)"])
                continue
            }
            batch.append(Self.copy(raw))
            bytes += message.len
            if lingerDeadline == nil { lingerDeadline = .now.advanced(by: configuration.batchLinger) }
        }
        return batch
    }

    private static func copy(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaConsumerMessage {
        let message = raw.pointee
        let value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? []
        let key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) }
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(raw, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let value = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: value))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(raw, &timestampType)
        return KafkaConsumerMessage(
            topic: message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
            partition: message.partition,
            offset: message.offset,
            key: key,
            value: value,
            headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }
}

typealias PartitionList = UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

func makePartitionList(_ partitions: [KafkaTopicPartition]) -> PartitionList {
    let list = rd_kafka_topic_partition_list_new(Int32(max(1, partitions.count)))!
    for partition in partitions { rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition) }
    return list
}

func partitionElements(_ list: PartitionList) -> UnsafeMutableBufferPointer<rd_kafka_topic_partition_t> {
    UnsafeMutableBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
}

/// Stops a ``KafkaConsumer/nextBatch(unless:)`` that has no record yet.
public final class KafkaPollStop: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func stop() { flag.store(true, ordering: .releasing) }

    var isStopped: Bool { flag.load(ordering: .acquiring) }
}

/// Set by task cancellation, read by the poll loop on its thread.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
