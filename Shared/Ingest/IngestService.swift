import ClientRuntime
import Events
import Foundation
import Kafka
import Logging
import Metrics
import ServiceSupport
import Synchronization

/// The gateway's behaviour, independent of HTTP: authenticate, rate-limit, validate, deduplicate,
/// publish, and say per event what happened.
public final class IngestService: Sendable {
    /// What became of one event.
    public enum Outcome: Sendable {
        /// The broker acknowledged it (now, or earlier for an idempotent replay).
        case accepted(eventID: String, IdempotencyCache.Entry, replay: Bool)
        /// Refused by validation; nothing was written.
        case rejected(EventValidationError)
        /// The event id was accepted before with a different event.
        case conflict(eventID: String)
        /// Not confirmed by the broker (down, slow, queue full): retry later with the same event_id.
        case unavailable(eventID: String, KafkaError)
        /// Refused by the broker for good (e.g. too large for it).
        case failed(eventID: String, KafkaError)
    }

    public let configuration: IngestConfiguration
    public let publisher: EventPublisher
    public let authenticator: ProducerAuthenticator
    let rateLimiter: RateLimiter
    let idempotency: IdempotencyCache
    let validator: EventValidator
    let metrics: IngestMetrics
    let logger: Logger

    public init(configuration: IngestConfiguration, producers: ProducerSlot, metrics: ServiceMetrics, logger: Logger) {
        self.configuration = configuration
        publisher = EventPublisher(producers: producers, topics: configuration.topics)
        authenticator = ProducerAuthenticator(mode: configuration.authMode, keys: configuration.apiKeys)
        rateLimiter = RateLimiter(ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst)
        idempotency = IdempotencyCache(capacity: configuration.idempotencyCacheSize)
        validator = EventValidator(policy: configuration.eventPolicy)
        self.metrics = IngestMetrics(factory: metrics.factory)
        self.logger = logger
    }

    public var now: EventTimestamp {
        EventTimestamp(millisecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }

    public static func newEventID() -> String { EventID.random() }

    public func validate(_ json: JSONValue, now: EventTimestamp) -> Result<Event, EventValidationError> {
        validator.validate(json, now: now, newEventID: Self.newEventID).mapError { error in
            // Only on the refusal path: which type the event claimed, for the rejected-events counter.
            var error = error
            if case .object(let members) = json, case .string(let type)? = members.first(where: { $0.key == "type" })?.value {
                error.eventType = EventType(rawValue: type)
            }
            return error
        }
    }

    /// The events of an NDJSON body: one per line, split on LF with a trailing CR dropped; blank lines
    /// are skipped. Split from a contiguous array: splitting a `ByteBufferView` goes through its generic
    /// collection path byte by byte (5.7 % of the gateway's CPU in a batch profile).
    public static func ndjsonLines(_ body: [UInt8]) -> [ArraySlice<UInt8>] {
        body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0 }
            .filter { line in line.contains { $0 != 0x20 && $0 != 0x09 } }
    }

    /// Parses and validates each line; a malformed line is rejected in its place, the others proceed.
    public func validate(lines: [ArraySlice<UInt8>], now: EventTimestamp) -> [Result<Event, EventValidationError>] {
        lines.map { line in
            do throws(JSONParseError) {
                return validate(try JSONParser.parse(line), now: now)
            } catch {
                return .failure(EventValidator.error(from: error))
            }
        }
    }

    /// Publishes the valid events of a request (validation failures are passed in as `.failure` and
    /// come back as `.rejected` in place) and reports every outcome in input order.
    public func ingest(_ candidates: [Result<Event, EventValidationError>]) async -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: candidates.count)
        // Positions into `candidates`, not copies of the events: an `Event` is a dozen references, and
        // copying them into intermediate arrays was a visible share of a batch's CPU.
        var toPublish: [(index: Int, digest: PayloadDigest)] = []
        var messages: [KafkaProducerMessage] = []
        toPublish.reserveCapacity(candidates.count)
        messages.reserveCapacity(candidates.count)
        // The same event_id twice in one request: the first copy is published, later copies share its
        // outcome (same content) or are refused (different content).
        var firstInRequest: [IdempotencyCache.Key: (index: Int, digest: PayloadDigest)] = [:]
        if candidates.count > 1 { firstInRequest.reserveCapacity(candidates.count) }
        var copies: [(index: Int, of: Int)] = []
        // Each event's cache key made once; one lock for the whole request's lookups (and one for its
        // inserts below).
        let keys = candidates.map { candidate in
            if case .success(let event) = candidate { IdempotencyCache.Key(event.eventID) } else { IdempotencyCache.Key("") }
        }
        let known = idempotency.lookup(keys: keys)
        for index in candidates.indices {
            switch candidates[index] {
            case .failure(let error):
                metrics.rejected(error.code.rawValue, error.eventType)
                outcomes[index] = .rejected(error)
            case .success(let event):
                let canonical = event.canonicalJSON()
                let digest = PayloadDigest(canonical)
                if let previous = known[index] {
                    outcomes[index] = previous.payload == digest
                        ? .accepted(eventID: event.eventID, previous, replay: true)
                        : .conflict(eventID: event.eventID)
                    if previous.payload != digest { metrics.rejected("event_id_conflict", event.type) }
                    continue
                }
                let key = keys[index]
                if candidates.count > 1 {
                    if let first = firstInRequest[key] {
                        if first.digest == digest {
                            copies.append((index, first.index))
                        } else {
                            metrics.rejected("event_id_conflict", event.type)
                            outcomes[index] = .conflict(eventID: event.eventID)
                        }
                        continue
                    }
                    firstInRequest[key] = (index, digest)
                }
                toPublish.append((index, digest))
                messages.append(EventPublisher.message(for: event, canonicalJSON: canonical, topics: publisher.topics))
            }
        }
        if !toPublish.isEmpty {
            metrics.inFlight.record(metrics.inFlightCount.wrappingAdd(toPublish.count))
            let started = ContinuousClock.now
            let reports = await publisher.publish(messages)
            metrics.produceLatency.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            metrics.inFlight.record(metrics.inFlightCount.wrappingAdd(-toPublish.count))
            var remembered: [(key: IdempotencyCache.Key, entry: IdempotencyCache.Entry)] = []
            remembered.reserveCapacity(toPublish.count)
            defer { idempotency.remember(keyed: remembered) }
            for (item, report) in zip(toPublish, reports) {
                guard case .success(let event) = candidates[item.index] else { continue }
                switch report {
                case .success(let delivery):
                    let entry = IdempotencyCache.Entry(payload: item.digest, topic: delivery.topic, partition: delivery.partition, offset: delivery.offset)
                    remembered.append((keys[item.index], entry))
                    metrics.accepted(event.type)
                    outcomes[item.index] = .accepted(eventID: event.eventID, entry, replay: false)
                case .failure(let error) where error.isRetriable || error.isFatal:
                    // A fatal producer error is the producer's, not the event's: the slot replaces the
                    // producer, so the client should retry (503), not give up (502).
                    metrics.rejected(error.isQueueFull ? "backpressure" : "broker_unavailable", event.type)
                    outcomes[item.index] = .unavailable(eventID: event.eventID, error)
                case .failure(let error):
                    metrics.rejected("broker_refused", event.type)
                    logger.error("broker refused an event", metadata: ["event_id": "\(event.eventID)", "error": "\(error)"])
                    outcomes[item.index] = .failed(eventID: event.eventID, error)
                }
            }
        }
        for copy in copies {
            if case .accepted(let eventID, let entry, _) = outcomes[copy.of] {
                outcomes[copy.index] = .accepted(eventID: eventID, entry, replay: true)
            } else {
                outcomes[copy.index] = outcomes[copy.of]
            }
        }
        return outcomes.map { $0! }
    }
}

/// The gateway's Prometheus metrics.
struct IngestMetrics: Sendable {
    let acceptedByType: [EventType: Counter]
    let factory: any MetricsFactory
    let produceLatency: Metrics.Timer
    let inFlight: Gauge
    let inFlightCount = AtomicCounter()
    let queueDepth: Gauge
    private let countersByName = MetricCache()

    init(factory: any MetricsFactory) {
        self.factory = factory
        acceptedByType = Dictionary(uniqueKeysWithValues: EventType.allCases.map {
            ($0, Counter(label: "streamrec_gateway_events_accepted_total", dimensions: [("type", $0.rawValue)], factory: factory))
        })
        produceLatency = Metrics.Timer(label: "streamrec_gateway_produce_duration_seconds", factory: factory)
        inFlight = Gauge(label: "streamrec_gateway_in_flight_events", factory: factory)
        queueDepth = Gauge(label: "streamrec_gateway_producer_queue_depth", factory: factory)
    }

    func requests(_ route: String, _ status: Int) {
        countersByName.counter("streamrec_gateway_requests_total", [("route", route), ("status", String(status))], factory: factory).increment()
    }

    func accepted(_ type: EventType) {
        acceptedByType[type]?.increment()
    }

    /// `type`: the event's type, or `unknown` when it named none the contract knows (or was not even
    /// JSON); a rate-limited request's events all count under `unknown` (refused before they are parsed).
    func rejected(_ reason: String, _ type: EventType?, events: Int = 1) {
        countersByName.counter("streamrec_gateway_events_rejected_total", [("type", type?.rawValue ?? "unknown"), ("reason", reason)], factory: factory)
            .increment(by: Int64(events))
    }
}

/// A process-local counter for gauges that swift-metrics can only `record`.
final class AtomicCounter: Sendable {
    private let value = Synchronization.Atomic<Int>(0)
    func wrappingAdd(_ delta: Int) -> Int { value.wrappingAdd(delta, ordering: .relaxed).newValue }
}
