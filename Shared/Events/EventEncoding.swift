/// Canonical JSON of contract v1 and the Kafka record layout.
extension Event {
    /// The event as canonical JSON: UTF-8, object keys sorted by their bytes, no insignificant
    /// whitespace, `occurred_at` in UTC with milliseconds, numbers in shortest round-trip form. The same
    /// event always encodes to the same bytes, so consumers may hash or compare payloads.
    public func canonicalJSON() -> [UInt8] {
        var writer = JSONWriter(capacity: 256)
        writer.value(jsonValue)
        return writer.bytes
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
