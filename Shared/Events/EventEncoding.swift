/// Canonical JSON of contract v1 and the Kafka record layout.
extension Event {
    /// The event as canonical JSON: UTF-8, object keys sorted by their bytes, no insignificant
    /// whitespace, `occurred_at` in UTC with milliseconds, numbers in shortest round-trip form. The same
    /// event always encodes to the same bytes, so consumers may hash or compare payloads.
    public func canonicalJSON() -> [UInt8] {
        var writer = JSONWriter(capacity: 256)
        if extraFields.isEmpty {
            writeKnownFields(into: &writer)
        } else {
            // Pass-through fields can sort anywhere among ours: take the general path.
            writer.value(jsonValue)
        }
        return writer.bytes
    }

    /// Writes the contract's fields directly in canonical (byte-sorted) key order:
    /// author, category, context, event_id, genres, item_id, occurred_at, option_id, options, poll_id,
    /// position, question, recommendation_id, title, type, user_id, value, watch_seconds, year. The general path through
    /// ``jsonValue`` produces the same bytes (a test checks this); this one avoids building a tree.
    private func writeKnownFields(into writer: inout JSONWriter) {
        writer.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: StaticString) {
            writer.key(name, first: first)
            first = false
        }
        var movie: MovieDetails?
        var poll: PollDetails?
        switch payload {
        case .movieAdded(let details): movie = details
        case .pollCreated(let details): poll = details
        default: break
        }
        if let author = poll?.author { key("author"); writer.string(author) }
        if let poll { key("category"); writer.string(poll.category) }
        if let context {
            key("context")
            writer.append(UInt8(ascii: "{"))
            var firstInContext = true
            if let country = context.country { writer.key("country", first: firstInContext); firstInContext = false; writer.string(country) }
            if let device = context.device { writer.key("device", first: firstInContext); firstInContext = false; writer.string(device) }
            if let session = context.session { writer.key("session", first: firstInContext); writer.string(session) }
            writer.append(UInt8(ascii: "}"))
        }
        key("event_id"); writer.string(eventID)
        if let movie {
            key("genres")
            writer.append(UInt8(ascii: "["))
            for (index, genre) in movie.genres.enumerated() {
                if index > 0 { writer.append(UInt8(ascii: ",")) }
                writer.string(genre)
            }
            writer.append(UInt8(ascii: "]"))
        }
        if type.domain == .movie { key("item_id"); writer.string(subjectID) }
        key("occurred_at")
        writer.append(UInt8(ascii: "\""))
        writer.append(contentsOf: RFC3339.formatBytes(occurredAt))
        writer.append(UInt8(ascii: "\""))
        if case .vote(let option) = payload { key("option_id"); writer.string(option) }
        if let poll {
            key("options")
            writer.append(UInt8(ascii: "["))
            for (index, option) in poll.options.enumerated() {
                if index > 0 { writer.append(UInt8(ascii: ",")) }
                writer.append(UInt8(ascii: "{"))
                writer.key("id", first: true); writer.string(option.id)
                writer.key("text"); writer.string(option.text)
                writer.append(UInt8(ascii: "}"))
            }
            writer.append(UInt8(ascii: "]"))
        }
        if type.domain == .poll { key("poll_id"); writer.string(subjectID) }
        if let position { key("position"); writer.number(String(position)) }
        if let poll { key("question"); writer.string(poll.question) }
        if let recommendationID { key("recommendation_id"); writer.string(recommendationID) }
        if let movie { key("title"); writer.string(movie.title) }
        key("type"); writer.string(type.rawValue)
        key("user_id"); writer.string(userID)
        if case .rating(let value) = payload { key("value"); writer.number(Self.number(value)) }
        if case .view(let seconds?) = payload { key("watch_seconds"); writer.number(Self.number(seconds)) }
        if let year = movie?.year { key("year"); writer.number(String(year)) }
        writer.append(UInt8(ascii: "}"))
    }

    /// The event as a JSON object (fields in no particular order; the writer sorts them).
    public var jsonValue: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("event_id", .string(eventID)),
            ("type", .string(type.rawValue)),
            ("user_id", .string(userID)),
            (type.domain.subjectField, .string(subjectID)),
            ("occurred_at", .string(occurredAt.description)),
        ]
        switch payload {
        case .none: break
        case .rating(let value): members.append(("value", .number(Self.number(value))))
        case .view(let seconds): if let seconds { members.append(("watch_seconds", .number(Self.number(seconds)))) }
        case .vote(let option): members.append(("option_id", .string(option)))
        case .movieAdded(let movie):
            members.append(("title", .string(movie.title)))
            if let year = movie.year { members.append(("year", .number(String(year)))) }
            members.append(("genres", .array(movie.genres.map { .string($0) })))
        case .pollCreated(let poll):
            members.append(("question", .string(poll.question)))
            members.append(("category", .string(poll.category)))
            if let author = poll.author { members.append(("author", .string(author))) }
            members.append(("options", .array(poll.options.map { .object([("id", .string($0.id)), ("text", .string($0.text))]) })))
        }
        if let context {
            var fields: [(key: String, value: JSONValue)] = []
            if let device = context.device { fields.append(("device", .string(device))) }
            if let country = context.country { fields.append(("country", .string(country))) }
            if let session = context.session { fields.append(("session", .string(session))) }
            members.append(("context", .object(fields)))
        }
        if let recommendationID { members.append(("recommendation_id", .string(recommendationID))) }
        if let position { members.append(("position", .number(String(position)))) }
        for (key, value) in extraFields { members.append((key, value)) }
        return .object(members)
    }

    /// Shortest decimal that reads back as the same Double; whole numbers keep one decimal (`4.0`).
    static func number(_ value: Double) -> String {
        String(value)
    }

    /// Decodes a record value written by the gateway (canonical JSON of contract v1).
    public static func decode(_ bytes: some Collection<UInt8>) throws(EventValidationError) -> Event {
        try EventValidator(policy: .decoding).validate(bytes: bytes, now: EventTimestamp(millisecondsSinceEpoch: 0)) {
            // A record without an event_id was not written by the gateway: refuse it rather than invent one.
            ""
        }.flatMap { event in
            event.eventID.isEmpty
                ? .failure(EventValidationError(.missingField, field: "event_id", "event_id is required in records"))
                : .success(event)
        }.get()
    }
}

/// Kafka record headers of contract v1.
public enum EventHeaders {
    public static let schemaVersion = "schema-version"
    public static let eventType = "event-type"
    public static let contentType = "content-type"
    public static let jsonContentType = "application/json"
    /// W3C Trace Context: the trace an event was posted in (``TraceParent``), carried from the gateway's
    /// request to the processor's batch span (docs/reliability.md, Tracing). Optional: absent when the
    /// request had none and tracing is off.
    public static let traceparent = "traceparent"
    /// W3C Trace Context's vendor state, carried with ``traceparent`` only.
    public static let tracestate = "tracestate"
}

/// Topic names, one per domain (configurable; these are the defaults).
public struct EventTopics: Sendable, Hashable {
    public var movie: String
    public var poll: String

    public init(movie: String = "streamrec.movie-events", poll: String = "streamrec.poll-events") {
        self.movie = movie
        self.poll = poll
    }

    public func topic(for domain: EventDomain) -> String {
        switch domain {
        case .movie: movie
        case .poll: poll
        }
    }

    public var all: [String] { [movie, poll] }
}
