import ClientRuntime
import EventRecords
import Events
import Foundation
import HTTPSupport
import Kafka
import Logging
import Metrics
import ServiceSupport
import Synchronization
import Tracing

/// The gateway's behaviour, independent of HTTP: authenticate, rate-limit, validate, deduplicate,
/// publish, and say per event what happened.
public final class IngestService: Sendable {
    /// What became of one event.
    public enum Outcome: Sendable {
        /// The broker acknowledged it (now, or earlier for an idempotent replay).
        case accepted(eventID: String, IdempotencyCache.Entry, replay: Bool)
        /// Refused by validation; nothing was written.
        case rejected(EventValidationError)
        /// The producer key may not send this type (a catalog event from a key not in
        /// `gateway.catalog_producers`); nothing was written.
        case forbidden(EventType)
        /// The event id was accepted before, or is being published right now, with a different event.
        case conflict(eventID: String)
        /// Not confirmed by the broker (down, slow, queue full, or sent and unanswered:
        /// `KafkaError.isOutcomeUnknown`): retry later with the same event_id.
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
    /// While tracing is on (`tracing.enabled`), the instrument that writes the request span's context into
    /// each event's Kafka headers; nil while it is off: an incoming `traceparent` is then forwarded as it
    /// came (``traceHeaders(traceparent:tracestate:)``).
    public let instrument: (any Instrument)?

    public init(configuration: IngestConfiguration, producers: ProducerSlot, metrics: ServiceMetrics, logger: Logger, instrument: (any Instrument)? = nil) {
        self.instrument = instrument
        self.configuration = configuration
        publisher = EventPublisher(producers: producers, topics: configuration.topics)
        authenticator = ProducerAuthenticator(mode: configuration.authMode, keys: configuration.apiKeys, catalogProducers: configuration.catalogProducers)
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
    /// collection path byte by byte, a cost paid on every byte of every batch.
    public static func ndjsonLines(_ body: [UInt8]) -> [ArraySlice<UInt8>] {
        body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0 }
            .filter { line in line.contains { $0 != 0x20 && $0 != 0x09 } }
    }

    /// The number of elements of a JSON array batch, counted without parsing or allocating, so the batch's
    /// size and its producer's rate are checked before the parse builds a tree of it: commas at depth 1
    /// outside strings (escapes respected), plus one unless the array is empty. Only the structure is
    /// checked (brackets balance, strings end, nothing but whitespace after the closing `]`): nil for a
    /// body that is no such array, which the parser refuses too; for a body the parser accepts as an array
    /// the count is exact; a body counted may still fail to parse (`[1,tru]` counts 2).
    public static func jsonArrayCount(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let end = bytes.count
        var position = 0
        while position < end, isJSONWhitespace(bytes[position]) { position += 1 }
        guard position < end, bytes[position] == UInt8(ascii: "[") else { return nil }
        position += 1
        var depth = 1
        var commas = 0
        var empty = true
        var inString = false
        while position < end {
            let byte = bytes[position]
            position += 1
            if inString {
                // The byte after a backslash is escaped: `\"` cannot end the string.
                if byte == UInt8(ascii: "\\") {
                    position += 1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D:
                continue
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 {
                    guard byte == UInt8(ascii: "]") else { return nil }
                    while position < end, isJSONWhitespace(bytes[position]) { position += 1 }
                    return position == end ? (empty ? 0 : commas + 1) : nil
                }
            case UInt8(ascii: ","):
                if depth == 1 { commas += 1 }
            default:
                break
            }
            empty = false
        }
        return nil
    }

    /// As ``jsonArrayCount(_:)-(UnsafeRawBufferPointer)``, for bytes in an array.
    public static func jsonArrayCount(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBytes { jsonArrayCount($0) }
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The trace context a request's events carry in their Kafka headers (`traceparent`, `tracestate`).
    /// Tracing on: the current span's context (the request's server span, which continues the caller's
    /// trace or starts one). Tracing off: the caller's `traceparent` as it came, if it is valid, and its
    /// `tracestate` (at most 512 characters, looked up only then) with it: one header lookup per request
    /// and, only when the caller sent a traceparent, two small strings; no header at all otherwise.
    public func traceHeaders(traceparent: String?, tracestate: @autoclosure () -> String?) -> [KafkaHeader] {
        if let instrument {
            guard let context = ServiceContext.current else { return [] }
            var headers: [KafkaHeader] = []
            instrument.inject(context, into: &headers, using: KafkaHeadersInjector())
            return headers
        }
        guard let traceparent, let parsed = TraceParent(traceparent) else { return [] }
        var headers = [KafkaHeader(name: EventHeaders.traceparent, value: parsed.description)]
        if let tracestate = tracestate(), !tracestate.isEmpty, tracestate.utf8.count <= TraceParent.maximumTraceStateLength {
            headers.append(KafkaHeader(name: EventHeaders.tracestate, value: tracestate))
        }
        return headers
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

    /// The rejected-events counter's `reason` and the answer's `code` for a catalog event from a key
    /// that may not send one.
    static let catalogNotPermitted = "catalog_not_permitted"

    /// Why an event was not confirmed (``Outcome/unavailable(eventID:_:)``): the answer's `code` and the
    /// rejected-events counter's `reason`.
    static func unavailableReason(_ error: KafkaError) -> String {
        if error.isOutcomeUnknown { return "outcome_unknown" }
        return error.isQueueFull ? "backpressure" : "broker_unavailable"
    }

    /// Publishes the valid events of a request (validation failures are passed in as `.failure` and
    /// come back as `.rejected` in place) and reports every outcome in input order. `producer`: the
    /// name the request authenticated as (``ProducerAuthenticator``), which says whether it may send
    /// catalog events.
    ///
    /// `trace`: the request's trace context as Kafka headers (``traceHeaders(traceparent:tracestate:)``),
    /// added to every record of the request.
    public func ingest(_ candidates: [Result<Event, EventValidationError>], producer: String, trace: [KafkaHeader] = []) async -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: candidates.count)
        let catalogAllowed = authenticator.maySendCatalog(producer)
        // Positions into `candidates`, not copies of the events: an `Event` is a dozen references, and
        // copying them into intermediate arrays was a visible share of a batch's CPU. Each event's cache
        // key and canonical JSON are made once.
        var firsts: [(index: Int, key: IdempotencyCache.Key, digest: PayloadDigest, canonical: [UInt8])] = []
        firsts.reserveCapacity(candidates.count)
        // The same event_id twice in one request: the first copy is published, later copies share its
        // outcome (same content) or are refused (different content).
        var firstInRequest: [IdempotencyCache.Key: (index: Int, digest: PayloadDigest)] = [:]
        if candidates.count > 1 { firstInRequest.reserveCapacity(candidates.count) }
        var copies: [(index: Int, of: Int)] = []
        for index in candidates.indices {
            switch candidates[index] {
            case .failure(let error):
                metrics.rejected(error.code.rawValue, error.eventType)
                outcomes[index] = .rejected(error)
            case .success(let event):
                // Before the id is looked up: a key that may not send catalog events learns nothing about
                // the ids of catalog events other keys sent (no replay, no conflict).
                if event.type.isCatalog, !catalogAllowed {
                    metrics.rejected(Self.catalogNotPermitted, event.type)
                    outcomes[index] = .forbidden(event.type)
                    continue
                }
                let canonical = event.canonicalJSON()
                let digest = PayloadDigest(canonical)
                let key = IdempotencyCache.Key(event.eventID)
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
                firsts.append((index, key, digest, canonical))
            }
        }

        // One lock for the whole request: each id is known (a replay or a conflict), being published by
        // another request (this one waits for that outcome instead of writing the event a second time),
        // or now this request's to publish.
        let claims = idempotency.claim(firsts.map { (key: $0.key, payload: $0.digest) })
        var toPublish: [(index: Int, key: IdempotencyCache.Key, digest: PayloadDigest)] = []
        var messages: [KafkaProducerMessage] = []
        var waiting: [(index: Int, publication: IdempotencyCache.Publication)] = []
        toPublish.reserveCapacity(firsts.count)
        messages.reserveCapacity(firsts.count)
        for (first, claim) in zip(firsts, claims) {
            guard case .success(let event) = candidates[first.index] else { continue }
            switch claim {
            case .accepted(let entry):
                outcomes[first.index] = .accepted(eventID: event.eventID, entry, replay: true)
            case .conflict:
                metrics.rejected("event_id_conflict", event.type)
                outcomes[first.index] = .conflict(eventID: event.eventID)
            case .publishing(let publication):
                waiting.append((first.index, publication))
            case .claimed:
                toPublish.append((first.index, first.key, first.digest))
                messages.append(EventRecord.message(for: event, canonicalJSON: first.canonical, topics: publisher.topics, trace: trace))
            }
        }

        if !toPublish.isEmpty {
            metrics.inFlight.record(metrics.inFlightCount.wrappingAdd(toPublish.count))
            let started = ContinuousClock.now
            let reports = await publisher.publish(messages)
            metrics.produceLatency.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            metrics.inFlight.record(metrics.inFlightCount.wrappingAdd(-toPublish.count))
            // Every claim is settled, whatever became of its event: an unsettled one would hold its id
            // (and every request waiting on it) for good.
            var settled: [(key: IdempotencyCache.Key, result: Result<IdempotencyCache.Entry, KafkaError>)] = []
            settled.reserveCapacity(toPublish.count)
            for (item, report) in zip(toPublish, reports) {
                let result = report.map { IdempotencyCache.Entry(payload: item.digest, topic: $0.topic, partition: $0.partition, offset: $0.offset) }
                settled.append((item.key, result))
                guard case .success(let event) = candidates[item.index] else { continue }
                outcomes[item.index] = outcome(result, of: event, published: true)
            }
            idempotency.settle(settled)
        }
        // Only after this request settled its own claims: two requests each waiting for an id the other
        // publishes must not wait for each other.
        for wait in waiting {
            guard case .success(let event) = candidates[wait.index] else { continue }
            let result = await wait.publication.outcome()
            outcomes[wait.index] = outcome(result, of: event, published: false)
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

    /// What a publication's result means for an event. `published`: this request published it (and
    /// counts it); otherwise it waited for the request that did, which counted it.
    private func outcome(_ result: Result<IdempotencyCache.Entry, KafkaError>, of event: Event, published: Bool) -> Outcome {
        switch result {
        case .success(let entry):
            if published { metrics.accepted(event.type) }
            return .accepted(eventID: event.eventID, entry, replay: !published)
        case .failure(let error) where error.isOutcomeUnknown || error.isRetriable || error.isFatal:
            // A fatal producer error is the producer's, not the event's: the slot replaces the producer,
            // so the client should retry (503), not give up (502). A record that may have been written
            // (outcome unknown) is retried too: consumers drop the second copy by event_id.
            if published { metrics.rejected(Self.unavailableReason(error), event.type) }
            return .unavailable(eventID: event.eventID, error)
        case .failure(let error):
            if published {
                metrics.rejected("broker_refused", event.type)
                logger.error("broker refused an event", metadata: ["event_id": "\(event.eventID)", "error": "\(error)"])
            }
            return .failed(eventID: event.eventID, error)
        }
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
