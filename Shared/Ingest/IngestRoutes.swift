import ClientRuntime
import Events
import HTTPSupport
import HTTPTypes
import Hummingbird
import Kafka

extension HTTPField.Name {
    static let apiKey = HTTPField.Name("X-API-Key")!
    static let idempotentReplay = HTTPField.Name("Idempotent-Replay")!
    static let traceparent = HTTPField.Name("traceparent")!
    static let tracestate = HTTPField.Name("tracestate")!
}

/// The gateway's HTTP API (described in `configs/openapi/ingest-gateway.yaml`).
public enum IngestRoutes {
    public static func add<Context: RequestContext>(to router: Router<Context>, service: IngestService) {
        router.post("/v1/events") { request, context in
            try await single(request, context: context, service: service)
        }
        router.post("/v1/events/batch") { request, context in
            try await batch(request, context: context, service: service)
        }
    }

    // MARK: - POST /v1/events

    static func single(_ request: Request, context: some RequestContext, service: IngestService) async throws -> Response {
        var request = request
        let producer = try authenticate(request, service: service)
        guard request.mediaType == "application/json" else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the event as application/json")
        }
        try limitRate(1, producer: producer, service: service)
        let body = try await request.collectBody(limit: service.configuration.maximumEventBytes)
        let candidate: Result<Event, EventValidationError>
        do {
            candidate = service.validate(try JSONParser.parse(body.readableBytesView), now: service.now)
        } catch {
            candidate = .failure(EventValidator.error(from: error))
        }
        let outcome = await service.ingest([candidate], producer: producer, trace: traceHeaders(request, service: service))[0]
        switch outcome {
        case .accepted(let eventID, let entry, let replay):
            var headers = HTTPFields()
            if replay { headers[.idempotentReplay] = "true" }
            return JSONResponse.make(.accepted, acceptedBody(eventID: eventID, entry: entry), headers: headers)
        case .rejected(let error):
            throw APIError(validation: error)
        case .forbidden(let type):
            throw catalogNotPermitted(type)
        case .conflict(let eventID):
            throw APIError(.conflict, code: "event_id_conflict", message: "event_id \(eventID) was already sent with different content", field: "event_id")
        case .unavailable(let eventID, let error):
            // The id is in the answer (it may be one the gateway generated): the record may still reach
            // Kafka, and a retry with this id is then deduplicated instead of counted twice.
            throw unavailable(error, service: service).with(eventID: eventID)
        case .failed(let eventID, let error):
            throw refused(error).with(eventID: eventID)
        }
    }

    // MARK: - POST /v1/events/batch

    static func batch(_ request: Request, context: some RequestContext, service: IngestService) async throws -> Response {
        var request = request
        let producer = try authenticate(request, service: service)
        let mediaType = request.mediaType
        guard mediaType == "application/json" || mediaType == "application/x-ndjson" else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send a JSON array (application/json) or NDJSON (application/x-ndjson)")
        }
        let body = try await request.collectBody(limit: service.configuration.maximumBatchBytes)
        let now = service.now
        // Either format is counted before anything is parsed, and the count and the producer's rate are
        // checked on that: a batch too large or over its producer's rate costs a pass over its bytes, not
        // a parse.
        var candidates: [Result<Event, EventValidationError>] = []
        if mediaType == "application/json" {
            let counted = body.withUnsafeReadableBytes { IngestService.jsonArrayCount($0) }
            if let counted { try checkCount(counted, service: service) }
            // Not countable: no well-formed array, which the parse below refuses with the reason. Charged
            // as one event, as a single event's request is before its parse.
            try limitRate(counted ?? 1, producer: producer, service: service)
            let parsed: JSONValue
            do {
                parsed = try JSONParser.parse(body.readableBytesView, maximumDepth: JSONParser.defaultMaximumDepth + 1)
            } catch {
                throw APIError(validation: EventValidator.error(from: error))
            }
            guard case .array(let elements) = parsed else {
                throw APIError(.badRequest, code: "not_an_array", message: "a JSON batch is an array of events")
            }
            // Should the count and the parser ever disagree about what an array is, the limit still holds.
            if counted == nil { try checkCount(elements.count, service: service) }
            candidates = elements.map { service.validate($0, now: now) }
        } else {
            // NDJSON: one event per line.
            let lines = IngestService.ndjsonLines(Array(body.readableBytesView))
            try checkCount(lines.count, service: service)
            try limitRate(lines.count, producer: producer, service: service)
            candidates = service.validate(lines: lines, now: now)
        }

        let outcomes = await service.ingest(candidates, producer: producer, trace: traceHeaders(request, service: service))
        // The answer is written directly (no JSON tree): at 100 events per request it is a large share
        // of the work otherwise.
        var accepted = 0
        var rejected = 0
        var unconfirmed = 0
        var retryError: KafkaError?
        var results = JSONWriter(capacity: 96 * outcomes.count + 64)
        results.append(UInt8(ascii: "["))
        for (index, outcome) in outcomes.enumerated() {
            if index > 0 { results.append(UInt8(ascii: ",")) }
            results.append(UInt8(ascii: "{"))
            var error: APIError?
            var eventID: String?
            switch outcome {
            case .accepted(let id, let entry, let replay):
                accepted += 1
                results.key("event_id", first: true); results.string(id)
                results.key("index"); results.number(String(index))
                results.key("offset"); results.number(String(entry.offset))
                results.key("partition"); results.number(String(entry.partition))
                if replay { results.key("replay"); results.raw("true") }
                results.key("status"); results.string("accepted")
                results.key("topic"); results.string(entry.topic)
                results.append(UInt8(ascii: "}"))
                continue
            case .rejected(let validation):
                rejected += 1
                error = APIError(validation: validation)
            case .forbidden(let type):
                rejected += 1
                error = catalogNotPermitted(type)
            case .conflict(let id):
                rejected += 1
                eventID = id
                error = APIError(.conflict, code: "event_id_conflict", message: "event_id was already sent with different content", field: "event_id")
            case .unavailable(let id, let kafkaError):
                unconfirmed += 1
                retryError = kafkaError
                eventID = id
                error = unavailable(kafkaError, service: service)
            case .failed(let id, let kafkaError):
                rejected += 1
                eventID = id
                error = refused(kafkaError)
            }
            results.key("error", first: true); results.value(error!.jsonObject)
            if let eventID { results.key("event_id"); results.string(eventID) }
            results.key("index"); results.number(String(index))
            results.key("status"); results.string(error!.status == .serviceUnavailable ? "unavailable" : "rejected")
            results.append(UInt8(ascii: "}"))
        }
        results.append(UInt8(ascii: "]"))
        var summary = JSONWriter(capacity: results.bytes.count + 64)
        summary.append(UInt8(ascii: "{"))
        summary.key("accepted", first: true); summary.number(String(accepted))
        summary.key("rejected"); summary.number(String(rejected))
        summary.key("results"); summary.append(contentsOf: results.bytes)
        summary.key("unavailable"); summary.number(String(unconfirmed))
        summary.append(UInt8(ascii: "}"))

        var headers: HTTPFields = [.contentType: "application/json"]
        // Nothing confirmed and something could not be written: the batch as a whole should be retried.
        let status: HTTPResponse.Status = unconfirmed > 0 && accepted == 0 ? .serviceUnavailable : .ok
        if unconfirmed > 0, let retryError {
            headers[.retryAfter] = unavailable(retryError, service: service).headers[.retryAfter]
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: summary.bytes)))
    }

    // MARK: - Shared steps

    static func authenticate(_ request: Request, service: IngestService) throws -> String {
        var presented = request.headers[.apiKey]
        if presented == nil, let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            presented = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        switch service.authenticator.authenticate(presented) {
        case .authenticated(let producer):
            return producer
        case .missing:
            throw APIError(.unauthorized, code: "missing_api_key", message: "send your API key in X-API-Key or Authorization: Bearer", headers: [.wwwAuthenticate: "Bearer"])
        case .rejected:
            throw APIError(.forbidden, code: "invalid_api_key", message: "the API key is not valid")
        }
    }

    /// The request's trace context for its events' Kafka headers (``IngestService/traceHeaders(traceparent:tracestate:)``).
    static func traceHeaders(_ request: Request, service: IngestService) -> [KafkaHeader] {
        service.traceHeaders(traceparent: request.headers[.traceparent], tracestate: request.headers[.tracestate])
    }

    static func limitRate(_ cost: Int, producer: String, service: IngestService) throws {
        guard let wait = service.rateLimiter.take(cost, for: producer) else { return }
        service.metrics.rejected("rate_limited", nil, events: cost)
        var headers = HTTPFields()
        headers[.retryAfter] = String(max(1, Int(wait.inSeconds.rounded(.up))))
        throw APIError(.tooManyRequests, code: "rate_limited", message: "this producer exceeds its rate of \(Int(service.rateLimiter.ratePerSecond)) events/s", headers: headers)
    }

    static func checkCount(_ count: Int, service: IngestService) throws {
        guard count > 0 else { throw APIError(.badRequest, code: "empty_batch", message: "the batch contains no events") }
        guard count <= service.configuration.maximumBatchEvents else {
            throw APIError(.contentTooLarge, code: "too_many_events", message: "a batch holds at most \(service.configuration.maximumBatchEvents) events, got \(count)")
        }
    }

    static func acceptedBody(eventID: String, entry: IdempotencyCache.Entry) -> JSONValue {
        .object([
            ("status", .string("accepted")), ("event_id", .string(eventID)), ("topic", .string(entry.topic)),
            ("partition", .number(String(entry.partition))), ("offset", .number(String(entry.offset))),
        ])
    }

    static func unavailable(_ error: KafkaError, service: IngestService) -> APIError {
        let message =
            if error.isOutcomeUnknown {
                // Sent, but the broker's answer never came: written or not, nobody knows. A retry is safe
                // with the same event_id only (consumers drop a second copy by it).
                "the event was sent to Kafka but not confirmed (\(error.name)), so it may have been written; retry with the same event_id: a copy is dropped by it"
            } else if error.isQueueFull {
                "the gateway is at capacity; retry with the same event_id"
            } else {
                "the event was not confirmed by Kafka (\(error.name)); retry with the same event_id"
            }
        return APIError.unavailable(code: IngestService.unavailableReason(error), message: message, retryAfter: service.configuration.retryAfter)
    }

    /// 403 for a catalog event from a producer key that may not send one (`gateway.catalog_producers`).
    static func catalogNotPermitted(_ type: EventType) -> APIError {
        APIError(.forbidden, code: IngestService.catalogNotPermitted, message: "this producer key may not send catalog events (\(type.rawValue))", field: "type")
    }

    static func refused(_ error: KafkaError) -> APIError {
        if error.name == "MSG_SIZE_TOO_LARGE" || error.name == "_MSG_SIZE_TOO_LARGE" {
            return APIError(.contentTooLarge, code: "event_too_large", message: "the event is larger than the broker accepts")
        }
        return APIError(.badGateway, code: "broker_refused", message: "Kafka refused the event (\(error.name))")
    }
}

extension APIError {
    /// The error with the event's id among its members (`{"error": {…, "event_id"}}`).
    func with(eventID: String) -> APIError {
        var error = self
        error.details.append(("event_id", .string(eventID)))
        return error
    }
}
