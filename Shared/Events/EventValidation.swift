/// Why an event was refused: a stable machine-readable code, the field at fault (dotted path, e.g.
/// `context.country`, or `null` for the whole body), and a human-readable message.
public struct EventValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case invalidJSON = "invalid_json"
        case invalidUTF8 = "invalid_utf8"
        case tooDeep = "too_deep"
        case duplicateField = "duplicate_field"
        case tooManyFields = "too_many_fields"
        case notAnObject = "not_an_object"
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case unknownField = "unknown_field"
        case unknownType = "unknown_type"
        case fieldNotAllowed = "field_not_allowed"
        case outOfRange = "out_of_range"
        case tooLong = "too_long"
        case invalidFormat = "invalid_format"
        case inFuture = "in_future"
        case tooOld = "too_old"
    }

    public var code: Code
    public var field: String?
    public var message: String
    /// The type the refused event declared, when it named a known one (the gateway counts refusals by
    /// type and reason); nil when the type itself was missing or unknown.
    public var eventType: EventType?

    public init(_ code: Code, field: String?, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { "\(code.rawValue)\(field.map { " (\($0))" } ?? ""): \(message)" }
}

/// Limits of contract v1, documented in docs/events.md and the JSON Schemas.
public enum EventLimits {
    public static let idMaxBytes = 128
    public static let titleMaxCharacters = 300
    public static let questionMaxCharacters = 500
    public static let optionTextMaxCharacters = 200
    public static let categoryMaxCharacters = 64
    public static let genreMaxCharacters = 50
    public static let genresMaxCount = 20
    public static let pollOptionsCount = 2...6
    public static let yearRange = 1870...2100
    public static let watchSecondsMaximum = 604_800.0
    public static let deviceMaxCharacters = 64
    public static let sessionMaxBytes = 128
    public static let authorMaxCharacters = 128
    public static let ratingRange = 0.5...5.0
    /// `position`: where the item was shown in the recommendation answer (1 = first).
    public static let positionRange = 1...1000
}

/// How strictly events are checked.
public struct EventPolicy: Sendable, Hashable {
    /// Refuse unknown top-level and `context` fields (`unknown_field`); when false they are kept and
    /// passed through to Kafka unchanged (top level only).
    public var rejectUnknownFields: Bool
    /// Refuse events whose `occurred_at` lies further in the future than this.
    public var maximumFutureSkew: Duration
    /// Refuse events older than this.
    public var maximumAge: Duration
    /// Apply the two time bounds (off when decoding records already accepted by the gateway).
    public var checkTimeBounds: Bool

    public init(rejectUnknownFields: Bool = true, maximumFutureSkew: Duration = .seconds(300), maximumAge: Duration = .seconds(30 * 86_400), checkTimeBounds: Bool = true) {
        self.rejectUnknownFields = rejectUnknownFields
        self.maximumFutureSkew = maximumFutureSkew
        self.maximumAge = maximumAge
        self.checkTimeBounds = checkTimeBounds
    }

    /// For readers of the topics: what the gateway wrote is trusted for time, and fields added by a
    /// later minor version are kept rather than refused.
    public static let decoding = EventPolicy(rejectUnknownFields: false, checkTimeBounds: false)
}

/// Validates JSON against contract v1 and builds ``Event``s.
public struct EventValidator: Sendable {
    public var policy: EventPolicy

    public init(policy: EventPolicy = EventPolicy()) {
        self.policy = policy
    }

    /// Parses and validates one event from raw bytes.
    public func validate(
        bytes: some Collection<UInt8>, now: EventTimestamp, newEventID: () -> String
    ) -> Result<Event, EventValidationError> {
        do throws(JSONParseError) {
            return validate(try JSONParser.parse(bytes), now: now, newEventID: newEventID)
        } catch {
            return .failure(Self.error(from: error))
        }
    }

    public static func error(from parseError: JSONParseError) -> EventValidationError {
        let code: EventValidationError.Code = switch parseError.reason {
        case .invalidJSON: .invalidJSON
        case .invalidUTF8: .invalidUTF8
        case .tooDeep: .tooDeep
        case .duplicateKey: .duplicateField
        case .tooManyFields: .tooManyFields
        }
        return EventValidationError(code, field: nil, parseError.description)
    }

    /// Validates one parsed event. `newEventID` supplies an id when the client sent none.
    public func validate(_ json: JSONValue, now: EventTimestamp, newEventID: () -> String) -> Result<Event, EventValidationError> {
        do throws(EventValidationError) {
            return .success(try build(json, now: now, newEventID: newEventID))
        } catch {
            return .failure(error)
        }
    }

    private func build(_ json: JSONValue, now: EventTimestamp, newEventID: () -> String) throws(EventValidationError) -> Event {
        guard case .object(let members) = json else {
            throw EventValidationError(.notAnObject, field: nil, "an event is a JSON object, got \(json.typeName)")
        }
        var fields = Fields(members: members)
        let typeName = try fields.requiredString("type")
        guard let type = EventType(rawValue: typeName) else {
            throw EventValidationError(.unknownType, field: "type", "unknown event type \"\(typeName.prefix(64))\"; expected one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let eventID: String
        if let supplied = try fields.optionalString("event_id") {
            guard let canonical = Self.canonicalUUID(supplied) else {
                throw EventValidationError(.invalidFormat, field: "event_id", "event_id must be a UUID like 6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41")
            }
            eventID = canonical
        } else {
            eventID = newEventID()
        }
        let userID = try Self.identifier(fields.requiredString("user_id"), field: "user_id")
        let subjectField = type.domain.subjectField
        let otherSubject = type.domain == .movie ? "poll_id" : "item_id"
        if fields.contains(otherSubject) {
            throw EventValidationError(.fieldNotAllowed, field: otherSubject, "\(type.rawValue) events carry \(subjectField), not \(otherSubject)")
        }
        let subjectID = try Self.identifier(fields.requiredString(subjectField), field: subjectField)

        let occurredText = try fields.requiredString("occurred_at")
        guard let occurredAt = RFC3339.parse(occurredText) else {
            throw EventValidationError(.invalidFormat, field: "occurred_at", "occurred_at must be an RFC 3339 date-time like 2026-11-21T20:36:18.123Z")
        }
        if policy.checkTimeBounds {
            let skew = policy.maximumFutureSkew.wholeMilliseconds
            if occurredAt.millisecondsSinceEpoch > now.millisecondsSinceEpoch + skew {
                throw EventValidationError(.inFuture, field: "occurred_at", "occurred_at is more than \(skew / 1000) s in the future")
            }
            let age = policy.maximumAge.wholeMilliseconds
            if occurredAt.millisecondsSinceEpoch < now.millisecondsSinceEpoch - age {
                throw EventValidationError(.tooOld, field: "occurred_at", "occurred_at is older than the accepted horizon of \(age / 86_400_000) days")
            }
        }

        let payload = try payload(for: type, fields: &fields)
        var context: EventContext?
        if let value = fields.take("context") { context = try Self.context(value) }
        let (recommendationID, position) = try Self.attribution(type: type, fields: &fields)

        var extra: [String: JSONValue] = [:]
        for (key, value) in fields.remaining {
            if policy.rejectUnknownFields || Self.knownFields.contains(key) {
                let allowed = Self.knownFields.contains(key)
                throw EventValidationError(
                    allowed ? .fieldNotAllowed : .unknownField, field: key,
                    allowed ? "\(type.rawValue) events do not carry \(key)" : "unknown field \"\(key.prefix(64))\""
                )
            }
            extra[key] = value
        }
        return Event(
            eventID: eventID, type: type, userID: userID, subjectID: subjectID, occurredAt: occurredAt,
            payload: payload, context: context, extraFields: extra, recommendationID: recommendationID, position: position
        )
    }

    /// The optional attribution of an interaction to a recommendation answer: `recommendation_id` (a UUID,
    /// written lower-case) and `position` (a whole number in ``EventLimits/positionRange``, only with an id).
    /// Catalog events are not interactions: they carry neither.
    private static func attribution(type: EventType, fields: inout Fields) throws(EventValidationError) -> (String?, Int?) {
        if type.isCatalog {
            for name in ["recommendation_id", "position"] where fields.contains(name) {
                throw EventValidationError(.fieldNotAllowed, field: name, "\(type.rawValue) events are not interactions and carry no \(name)")
            }
            return (nil, nil)
        }
        var recommendationID: String?
        if let supplied = try fields.optionalString("recommendation_id") {
            guard let canonical = canonicalUUID(supplied) else {
                throw EventValidationError(.invalidFormat, field: "recommendation_id", "recommendation_id must be the UUID a recommendation answer carried")
            }
            recommendationID = canonical
        }
        guard let value = try fields.optionalNumber("position") else { return (recommendationID, nil) }
        guard recommendationID != nil else {
            throw EventValidationError(.fieldNotAllowed, field: "position", "position is sent only with recommendation_id")
        }
        guard value.rounded() == value, value >= Double(EventLimits.positionRange.lowerBound), value <= Double(EventLimits.positionRange.upperBound) else {
            throw EventValidationError(.outOfRange, field: "position", "position is a whole number from \(EventLimits.positionRange.lowerBound) to \(EventLimits.positionRange.upperBound) (1 = first)")
        }
        return (recommendationID, Int(value))
    }

    /// Every field name of contract v1 (any type).
    static let knownFields: Set<String> = [
        "event_id", "type", "user_id", "item_id", "poll_id", "occurred_at", "context", "value", "watch_seconds",
        "option_id", "title", "year", "genres", "question", "options", "category", "author", "recommendation_id", "position",
    ]

    private func payload(for type: EventType, fields: inout Fields) throws(EventValidationError) -> EventPayload {
        switch type {
        case .movieLike, .movieDislike, .pollImpression, .pollExpand, .pollShare:
            return .none
        case .movieRating:
            let value = try fields.requiredNumber("value")
            guard EventLimits.ratingRange.contains(value), (value * 2).rounded() == value * 2 else {
                throw EventValidationError(.outOfRange, field: "value", "a rating is 0.5 to 5.0 in steps of 0.5")
            }
            return .rating(value)
        case .movieView:
            guard let seconds = try fields.optionalNumber("watch_seconds") else { return .view(watchSeconds: nil) }
            guard seconds >= 0, seconds <= EventLimits.watchSecondsMaximum else {
                throw EventValidationError(.outOfRange, field: "watch_seconds", "watch_seconds is 0 to \(Int(EventLimits.watchSecondsMaximum))")
            }
            return .view(watchSeconds: seconds)
        case .pollVote:
            return .vote(optionID: try Self.identifier(fields.requiredString("option_id"), field: "option_id"))
        case .movieAdded:
            let title = try Self.text(fields.requiredString("title"), field: "title", maximum: EventLimits.titleMaxCharacters)
            var year: Int?
            if let number = try fields.optionalNumberText("year") {
                // JSON Schema's "integer" accepts 1995.0 as well as 1995.
                let whole = Double(number).flatMap { $0.rounded() == $0 && abs($0) < 1e6 ? Int($0) : nil }
                guard let value = whole, EventLimits.yearRange.contains(value) else {
                    throw EventValidationError(.outOfRange, field: "year", "year is a whole number from \(EventLimits.yearRange.lowerBound) to \(EventLimits.yearRange.upperBound)")
                }
                year = value
            }
            var genres: [String] = []
            if let list = try fields.optionalArray("genres") {
                guard list.count <= EventLimits.genresMaxCount else {
                    throw EventValidationError(.tooLong, field: "genres", "at most \(EventLimits.genresMaxCount) genres")
                }
                for (index, element) in list.enumerated() {
                    guard case .string(let genre) = element else {
                        throw EventValidationError(.wrongType, field: "genres[\(index)]", "a genre is a string, got \(element.typeName)")
                    }
                    let checked = try Self.text(genre, field: "genres[\(index)]", maximum: EventLimits.genreMaxCharacters)
                    if genres.contains(checked) {
                        throw EventValidationError(.invalidFormat, field: "genres[\(index)]", "genre \"\(checked)\" is listed twice")
                    }
                    genres.append(checked)
                }
            }
            return .movieAdded(MovieDetails(title: title, year: year, genres: genres))
        case .pollCreated:
            let question = try Self.text(fields.requiredString("question"), field: "question", maximum: EventLimits.questionMaxCharacters)
            let category = try Self.text(fields.requiredString("category"), field: "category", maximum: EventLimits.categoryMaxCharacters)
            var author: String?
            if let text = try fields.optionalString("author") {
                author = try Self.text(text, field: "author", maximum: EventLimits.authorMaxCharacters)
            }
            guard let list = try fields.optionalArray("options") else {
                throw EventValidationError(.missingField, field: "options", "poll.created needs options")
            }
            guard EventLimits.pollOptionsCount.contains(list.count) else {
                throw EventValidationError(.outOfRange, field: "options", "a poll has \(EventLimits.pollOptionsCount.lowerBound) to \(EventLimits.pollOptionsCount.upperBound) options")
            }
            var options: [PollOption] = []
            for (index, element) in list.enumerated() {
                let path = "options[\(index)]"
                guard case .object(let members) = element else {
                    throw EventValidationError(.wrongType, field: path, "an option is an object {\"id\", \"text\"}, got \(element.typeName)")
                }
                var optionFields = Fields(members: members, path: path + ".")
                let id = try Self.identifier(optionFields.requiredString("id"), field: path + ".id")
                let text = try Self.text(optionFields.requiredString("text"), field: path + ".text", maximum: EventLimits.optionTextMaxCharacters)
                if let unknown = optionFields.remaining.first {
                    throw EventValidationError(.unknownField, field: path + "." + unknown.key, "an option has only id and text")
                }
                if options.contains(where: { $0.id == id }) {
                    throw EventValidationError(.invalidFormat, field: path + ".id", "option id \"\(id)\" is used twice")
                }
                options.append(PollOption(id: id, text: text))
            }
            return .pollCreated(PollDetails(question: question, options: options, category: category, author: author))
        }
    }

    private static func context(_ value: JSONValue) throws(EventValidationError) -> EventContext {
        guard case .object(let members) = value else {
            throw EventValidationError(.wrongType, field: "context", "context is an object, got \(value.typeName)")
        }
        var fields = Fields(members: members, path: "context.")
        var context = EventContext()
        if let device = try fields.optionalString("device") {
            // A device is a label, not prose: no line breaks either.
            if device.unicodeScalars.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
                throw EventValidationError(.invalidFormat, field: "context.device", "context.device must not contain control characters")
            }
            context.device = try text(device, field: "context.device", maximum: EventLimits.deviceMaxCharacters)
        }
        if let country = try fields.optionalString("country") {
            guard country.utf8.count == 2, country.utf8.allSatisfy({ (65...90).contains($0) }) else {
                throw EventValidationError(.invalidFormat, field: "context.country", "country is an ISO 3166-1 alpha-2 code in upper case, like DE")
            }
            context.country = country
        }
        if let session = try fields.optionalString("session") {
            guard session.utf8.count <= EventLimits.sessionMaxBytes else {
                throw EventValidationError(.tooLong, field: "context.session", "session is at most \(EventLimits.sessionMaxBytes) bytes")
            }
            context.session = try identifier(session, field: "context.session")
        }
        // Unknown context fields are refused in both modes: context is ours, and its size must stay bounded.
        if let unknown = fields.remaining.first {
            throw EventValidationError(.unknownField, field: "context." + unknown.key, "context has only device, country and session")
        }
        return context
    }

    /// Ids: 1 to 128 bytes of UTF-8 without control characters and without `{` or `}` (those would break
    /// the Redis Cluster hash tags that keys are built with). Everything else, quotes and `*` and `$`
    /// included, is data: it is stored and returned verbatim and never interpreted.
    static func identifier(_ text: String, field: String) throws(EventValidationError) -> String {
        let count = text.utf8.count
        guard count > 0 else { throw EventValidationError(.invalidFormat, field: field, "\(field) must not be empty") }
        guard count <= EventLimits.idMaxBytes else {
            throw EventValidationError(.tooLong, field: field, "\(field) is at most \(EventLimits.idMaxBytes) bytes")
        }
        for scalar in text.unicodeScalars where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "{" || scalar == "}" {
            throw EventValidationError(.invalidFormat, field: field, "\(field) must not contain control characters, '{' or '}'")
        }
        return text
    }

    /// Human text: not blank; at most `maximum` characters counted as Unicode code points (as JSON
    /// Schema's maxLength counts them, so combining marks cannot inflate a "character"); no control
    /// characters except tab, line feed and carriage return.
    static func text(_ text: String, field: String, maximum: Int) throws(EventValidationError) -> String {
        guard text.unicodeScalars.count <= maximum else {
            throw EventValidationError(.tooLong, field: field, "\(field) is at most \(maximum) characters")
        }
        guard text.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else {
            throw EventValidationError(.invalidFormat, field: field, "\(field) must not be blank")
        }
        for scalar in text.unicodeScalars where (scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") || (0x7F...0x9F).contains(scalar.value) {
            throw EventValidationError(.invalidFormat, field: field, "\(field) must not contain control characters other than tab and line breaks")
        }
        return text
    }

    /// Lower-case canonical form of an 8-4-4-4-12 hexadecimal UUID, or nil.
    static func canonicalUUID(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                output.append(byte)
                continue
            }
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): output.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): output.append(byte + 32)
            default: return nil
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// Takes fields out of an object one by one, so whatever is left afterwards is unknown.
struct Fields {
    private var members: [(key: String, value: JSONValue)]
    let path: String

    init(members: [(key: String, value: JSONValue)], path: String = "") {
        self.members = members
        self.path = path
    }

    var remaining: [(key: String, value: JSONValue)] { members }

    func contains(_ key: String) -> Bool { members.contains { $0.key == key } }

    /// The field's value, or nil if absent. An explicit `null` is not "absent": it reaches the type
    /// checks below and is refused as the wrong type (as the JSON Schema does).
    mutating func take(_ key: String) -> JSONValue? {
        guard let index = members.firstIndex(where: { $0.key == key }) else { return nil }
        return members.remove(at: index).value
    }

    mutating func optionalString(_ key: String) throws(EventValidationError) -> String? {
        guard let value = take(key) else { return nil }
        guard case .string(let text) = value else {
            throw EventValidationError(.wrongType, field: path + key, "\(path + key) must be a string, got \(value.typeName)")
        }
        return text
    }

    mutating func requiredString(_ key: String) throws(EventValidationError) -> String {
        guard let text = try optionalString(key) else {
            throw EventValidationError(.missingField, field: path + key, "\(path + key) is required")
        }
        return text
    }

    mutating func optionalNumberText(_ key: String) throws(EventValidationError) -> String? {
        guard let value = take(key) else { return nil }
        guard case .number(let text) = value else {
            throw EventValidationError(.wrongType, field: path + key, "\(path + key) must be a number, got \(value.typeName)")
        }
        return text
    }

    mutating func optionalNumber(_ key: String) throws(EventValidationError) -> Double? {
        guard let text = try optionalNumberText(key) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw EventValidationError(.outOfRange, field: path + key, "\(path + key) is not a finite number")
        }
        return value
    }

    mutating func requiredNumber(_ key: String) throws(EventValidationError) -> Double {
        guard let value = try optionalNumber(key) else {
            throw EventValidationError(.missingField, field: path + key, "\(path + key) is required")
        }
        return value
    }

    mutating func optionalArray(_ key: String) throws(EventValidationError) -> [JSONValue]? {
        guard let value = take(key) else { return nil }
        guard case .array(let elements) = value else {
            throw EventValidationError(.wrongType, field: path + key, "\(path + key) must be an array, got \(value.typeName)")
        }
        return elements
    }
}

extension Duration {
    /// ClientRuntime's `Duration.milliseconds`, here again because the event contract is a pure core that
    /// imports none of the project's modules.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
