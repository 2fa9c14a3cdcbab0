import Logging
import ServiceLifecycle
import Synchronization

/// A producer replaced by a fresh one when it is stuck: the gateway's, and the processor's dead-letter
/// producer (a stuck one there would hold back the partition whose dead letter it cannot send).
///
/// An idempotent producer can get stuck when the broker loses its producer state: every record then
/// fails with `UNKNOWN_PRODUCER_ID`, librdkafka bumps the epoch and retries, and each send ends in
/// `_MSG_TIMED_OUT` although the broker answers. The local Tansu broker does this after a restart (it
/// keeps everything in memory). When publishes keep failing while broker metadata is fresh, the slot
/// swaps in a new producer (a new producer id); sends still waiting on the old one get a retriable
/// error, so their clients retry. Runs as a service so the current producer is flushed at shutdown.
public final class ProducerSlot: Service, Sendable {
    private struct State {
        var producer: KafkaProducer
        /// Bumped at each replacement, so outcomes of sends on an old producer do not count against the new one.
        var generation = 0
        var consecutiveFailedPublishes = 0
        var replacements = 0
        /// The broker refused this producer's id, epoch or sequence: replace it whatever else holds.
        var stateLost = false
    }

    /// Failed publishes in a row, with the broker reachable, before the producer is replaced, unless
    /// the owner says otherwise.
    public static let defaultFailuresBeforeReplacement = 3
    public let failuresBeforeReplacement: Int

    private let state: Mutex<State>
    private let makeProducer: @Sendable () throws -> KafkaProducer
    private let flushTimeout: Duration
    private let logger: Logger

    /// - Parameter failuresBeforeReplacement: failed publishes in a row, with the broker reachable, that
    ///   make the producer count as stuck.
    public init(
        flushTimeout: Duration, failuresBeforeReplacement: Int = ProducerSlot.defaultFailuresBeforeReplacement, logger: Logger,
        makeProducer: @escaping @Sendable () throws -> KafkaProducer
    ) throws {
        state = Mutex(State(producer: try makeProducer()))
        self.failuresBeforeReplacement = failuresBeforeReplacement
        self.makeProducer = makeProducer
        self.flushTimeout = flushTimeout
        self.logger = logger
    }

    public var producer: KafkaProducer { state.withLock { $0.producer } }

    /// The current producer and its generation, read together.
    var current: (producer: KafkaProducer, generation: Int) { state.withLock { ($0.producer, $0.generation) } }
    public var replacements: Int { state.withLock { $0.replacements } }

    /// Sends on the current producer and waits for each record's outcome, in input order; the outcomes
    /// count toward ``replaceIfStuck(brokerReachable:)``.
    public func send(_ messages: [KafkaProducerMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        let (producer, generation) = current
        let results = await producer.send(messages)
        record(
            acknowledged: results.contains { if case .success = $0 { true } else { false } },
            // A full local queue is backpressure (at capacity with the broker up), not a sign of a stuck
            // producer: replacing it would purge every record in flight.
            retriableFailure: results.contains { if case .failure(let error) = $0 { error.isRetriable && !error.isQueueFull } else { false } },
            stateLost: results.contains { if case .failure(let error) = $0 { error.isProducerStateLost } else { false } },
            generation: generation
        )
        return results
    }

    /// Called after each publish with whether any record was acknowledged and whether any failed
    /// retriably.
    func record(acknowledged: Bool, retriableFailure: Bool, stateLost: Bool = false, generation: Int) {
        state.withLock { state in
            guard generation == state.generation else { return }
            if stateLost { state.stateLost = true }
            if acknowledged {
                state.consecutiveFailedPublishes = 0
            } else if retriableFailure {
                state.consecutiveFailedPublishes += 1
            }
        }
    }

    /// Replaces the producer if it reported a fatal error, or if publishes keep failing although the
    /// broker answers metadata requests (the caller says whether it does).
    public func replaceIfStuck(brokerReachable: Bool) async {
        let (stuck, fatal, stateLost) = state.withLock { ($0.consecutiveFailedPublishes >= failuresBeforeReplacement, $0.producer.fatalError, $0.stateLost) }
        guard fatal != nil || stateLost || (brokerReachable && stuck) else { return }
        let replacement: KafkaProducer
        do {
            replacement = try makeProducer()
        } catch {
            logger.error("could not create a replacement producer", metadata: ["error": "\(error)"])
            return
        }
        let old = state.withLock { state -> KafkaProducer in
            defer {
                state.producer = replacement
                state.generation += 1
                state.consecutiveFailedPublishes = 0
                state.stateLost = false
                state.replacements += 1
            }
            return state.producer
        }
        if let fatal {
            logger.error("replaced a Kafka producer after a fatal error", metadata: ["error": "\(fatal)"])
        } else if stateLost {
            logger.warning("replaced a Kafka producer whose id, epoch or sequence the broker refused")
        } else {
            logger.warning("replaced a stuck Kafka producer: publishes kept failing while the broker answered")
        }
        await old.shutdown(flushTimeout: .zero)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await producer.shutdown(flushTimeout: flushTimeout)
    }

    /// Flushes and closes the current producer (for owners that do not run the slot as a service).
    public func shutdown() async {
        await producer.shutdown(flushTimeout: flushTimeout)
    }
}
