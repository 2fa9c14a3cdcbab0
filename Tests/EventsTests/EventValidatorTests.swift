import Events
import Testing

let now = EventTimestamp(millisecondsSinceEpoch: 1_795_293_378_123)  // 2026-11-21T20:36:18.123Z
let fixedID = "00000000-0000-4000-8000-000000000001"

func validate(_ json: String, policy: EventPolicy = EventPolicy()) -> Result<Event, EventValidationError> {
    EventValidator(policy: policy).validate(bytes: Array(json.utf8), now: now) { fixedID }
}

func refusal(_ json: String, policy: EventPolicy = EventPolicy()) -> EventValidationError? {
    if case .failure(let error) = validate(json, policy: policy) { return error }
    return nil
}

@Suite("Event contract v1")
struct EventValidatorTests {
    static let validEvents: [String] = [
        #"{"type":"movie.rating","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","value":4.5}"#,
        #"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z"}"#,
        #"{"type":"movie.dislike","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z"}"#,
        #"{"type":"movie.view","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","watch_seconds":95.5}"#,
        #"{"type":"movie.view","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z"}"#,
        #"{"type":"movie.added","user_id":"editor","item_id":"m9","occurred_at":"2026-11-21T20:00:00Z","title":"Toy Story","year":1995,"genres":["Animation","Comedy"]}"#,
        #"{"type":"poll.impression","user_id":"u1","poll_id":"p1","occurred_at":"2026-11-21T20:00:00Z"}"#,
        #"{"type":"poll.expand","user_id":"u1","poll_id":"p1","occurred_at":"2026-11-21T20:00:00Z"}"#,
        #"{"type":"poll.vote","user_id":"u1","poll_id":"p1","occurred_at":"2026-11-21T20:00:00Z","option_id":"yes"}"#,
        #"{"type":"poll.share","user_id":"u1","poll_id":"p1","occurred_at":"2026-11-21T20:00:00Z"}"#,
        #"{"type":"poll.created","user_id":"u7","poll_id":"p2","occurred_at":"2026-11-21T20:00:00Z","question":"Tea or coffee?","category":"food","author":"Ann","options":[{"id":"t","text":"Tea"},{"id":"c","text":"Coffee"}]}"#,
        #"{"type":"movie.added","user_id":"editor","item_id":"m10","occurred_at":"2026-11-21T20:00:00Z","title":"Two\nLines\tand a tab","year":2000.0}"#,
    ]

    @Test("every event type is accepted and covered", arguments: validEvents)
    func acceptsEveryType(json: String) throws {
        let event = try validate(json).get()
        #expect(event.eventID == fixedID)
        #expect(event.occurredAt == RFC3339.parse("2026-11-21T20:00:00Z"))
    }

    @Test("the examples cover all ten types")
    func examplesCoverAllTypes() throws {
        let types = Set(try Self.validEvents.map { try validate($0).get().type })
        #expect(types == Set(EventType.allCases))
    }

    @Test("canonical JSON is deterministic, sorted, and decodes back to the same event", arguments: validEvents)
    func canonicalRoundTrip(json: String) throws {
        let event = try validate(json).get()
        let canonical = event.canonicalJSON()
        #expect(try Event.decode(canonical) == event)
        // Reordering the input fields changes nothing in the output.
        let reordered = try JSONParser.parse(Array(json.utf8))
        guard case .object(let members) = reordered else { return }
        let reversed = EventValidator().validate(.object(members.reversed()), now: now) { fixedID }
        #expect(try reversed.get().canonicalJSON() == canonical)
        // The direct writer and the general tree writer agree byte for byte.
        var general = JSONWriter()
        general.value(event.jsonValue)
        #expect(general.bytes == canonical)
        // Keys appear in byte order.
        guard case .object(let written) = try JSONParser.parse(canonical) else { return }
        #expect(written.map(\.key) == written.map(\.key).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    @Test("canonical form of a rating, exactly")
    func canonicalExample() throws {
        let event = try validate(#"{"value":4,"occurred_at":"2026-11-21T21:00:00.5+01:00","item_id":"m1","user_id":"u\"1","type":"movie.rating","event_id":"6F1C2A9E-3B1D-4C55-9A57-0C3E8F2D7B41","context":{"country":"DE","device":"tv"}}"#).get()
        #expect(String(decoding: event.canonicalJSON(), as: UTF8.self)
            == #"{"context":{"country":"DE","device":"tv"},"event_id":"6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41","item_id":"m1","occurred_at":"2026-11-21T20:00:00.500Z","type":"movie.rating","user_id":"u\"1","value":4.0}"#)
    }

    @Test("each rule refuses with its code and field", arguments: [
        (#"[]"#, "not_an_object", nil),
        (#"{"user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "missing_field", "type"),
        (#"{"type":"movie.star","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "unknown_type", "type"),
        (#"{"type":"movie.like","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "missing_field", "user_id"),
        (#"{"type":"movie.like","user_id":42,"item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "wrong_type", "user_id"),
        (#"{"type":"movie.like","user_id":"","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "invalid_format", "user_id"),
        (#"{"type":"movie.like","user_id":"a{b}","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "invalid_format", "user_id"),
        (#"{"type":"movie.like","user_id":"a\u0000b","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "invalid_format", "user_id"),
        (#"{"type":"movie.like","user_id":"u","occurred_at":"2026-11-21T20:00:00Z"}"#, "missing_field", "item_id"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z"}"#, "field_not_allowed", "poll_id"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m"}"#, "missing_field", "occurred_at"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"21/11/2026"}"#, "invalid_format", "occurred_at"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:50:00Z"}"#, "in_future", "occurred_at"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-01-01T00:00:00Z"}"#, "too_old", "occurred_at"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","event_id":"123"}"#, "invalid_format", "event_id"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":4}"#, "field_not_allowed", "value"),
        (#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","colour":"red"}"#, "unknown_field", "colour"),
        (#"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "missing_field", "value"),
        (#"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":4.2}"#, "out_of_range", "value"),
        (#"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":0}"#, "out_of_range", "value"),
        (#"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":-1}"#, "out_of_range", "value"),
        (#"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":1e400}"#, "out_of_range", "value"),
        (#"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":"4"}"#, "wrong_type", "value"),
        (#"{"type":"movie.view","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","watch_seconds":-3}"#, "out_of_range", "watch_seconds"),
        (#"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#, "missing_field", "title"),
        (#"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","title":"  "}"#, "invalid_format", "title"),
        (#"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","title":"T","year":1995.5}"#, "out_of_range", "year"),
        (#"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","title":"T","genres":["A",1]}"#, "wrong_type", "genres[1]"),
        (#"{"type":"poll.vote","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z"}"#, "missing_field", "option_id"),
        (#"{"type":"poll.created","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","question":"Q","category":"c","options":[{"id":"a","text":"A"}]}"#, "out_of_range", "options"),
        (#"{"type":"poll.created","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","question":"Q","category":"c","options":[{"id":"a","text":"A"},{"id":"a","text":"B"}]}"#, "invalid_format", "options[1].id"),
        (#"{"type":"poll.created","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","question":"Q","category":"c","options":[{"id":"a","text":"A"},{"id":"b","text":"B","x":1}]}"#, "unknown_field", "options[1].x"),
        (#"{"type":"poll.like","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z"}"#, "unknown_type", "type"),
        (#"{"type":"poll.share","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","context":{"country":"de"}}"#, "invalid_format", "context.country"),
        (#"{"type":"poll.share","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","context":{"os":"x"}}"#, "unknown_field", "context.os"),
        (#"{"type":"poll.share","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","context":"tv"}"#, "wrong_type", "context"),
        (#"{"type":"poll.share","type":"poll.share","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z"}"#, "duplicate_field", nil),
    ] as [(String, String, String?)])
    func refuses(json: String, code: String, field: String?) {
        let error = refusal(json)
        #expect(error?.code.rawValue == code, "\(String(describing: error))")
        #expect(error?.field == field)
    }

    @Test("explicit nulls are refused, not treated as absent; lengths count code points, so combining marks cannot inflate a character")
    func nullsAndLengths() {
        #expect(refusal(#"{"type":"movie.view","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","watch_seconds":null}"#)?.code == .wrongType)
        #expect(refusal(#"{"event_id":null,"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#)?.code == .wrongType)
        #expect(refusal(#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","context":null}"#)?.code == .wrongType)
        let zalgo = "a" + String(repeating: "\u{0301}", count: 300)
        let error = refusal(#"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","title":"\#(zalgo)"}"#)
        #expect(error?.code == .tooLong && error?.field == "title")
    }

    @Test("ids are bounded in bytes; SQL and Redis metacharacters are plain data")
    func identifiers() throws {
        let long = String(repeating: "x", count: 129)
        #expect(refusal(#"{"type":"movie.like","user_id":"\#(long)","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#)?.code == .tooLong)
        let hostileJSON = #"'; DROP TABLE interactions; -- *3 $3 \"ok\" \\ EVAL"#
        let event = try validate(#"{"type":"movie.like","user_id":"\#(hostileJSON)","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#).get()
        #expect(event.userID == #"'; DROP TABLE interactions; -- *3 $3 "ok" \ EVAL"#)
        // Line breaks inside ids are control characters: refused.
        #expect(refusal(#"{"type":"movie.like","user_id":"a\r\nb","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#)?.code == .invalidFormat)
        #expect(try Event.decode(event.canonicalJSON()).userID == event.userID)
    }

    @Test("pass-through mode keeps unknown top-level fields; strict mode is the default")
    func passThrough() throws {
        let json = #"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","experiment":{"arm":"b"}}"#
        #expect(refusal(json)?.code == .unknownField)
        let lenient = EventPolicy(rejectUnknownFields: false)
        let event = try validate(json, policy: lenient).get()
        #expect(event.extraFields["experiment"] == .object([("arm", .string("b"))]))
        #expect(String(decoding: event.canonicalJSON(), as: UTF8.self).contains(#""experiment":{"arm":"b"}"#))
        // A known field in the wrong place is refused in both modes.
        #expect(refusal(#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":3}"#, policy: lenient)?.code == .fieldNotAllowed)
    }

    @Test("a client-supplied event_id is kept (lower-cased); a missing one is assigned")
    func eventIDs() throws {
        let supplied = try validate(#"{"event_id":"6F1C2A9E-3B1D-4C55-9A57-0C3E8F2D7B41","type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#).get()
        #expect(supplied.eventID == "6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41")
        #expect(try validate(Self.validEvents[1]).get().eventID == fixedID)
    }

    @Test("records without an event_id are not decoded")
    func decodeNeedsEventID() {
        let error = #expect(throws: EventValidationError.self) {
            try Event.decode(Array(#"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#.utf8))
        }
        #expect(error?.field == "event_id")
    }

    @Test("domains and topics")
    func topics() {
        #expect(EventType.movieView.domain == .movie && EventType.pollVote.domain == .poll)
        let topics = EventTopics()
        #expect(topics.topic(for: .movie) == "streamrec.movie-events")
        #expect(topics.topic(for: .poll) == "streamrec.poll-events")
        #expect(EventType.allCases.filter(\.isCatalog) == [.movieAdded, .pollCreated])
    }
}

@Suite("Event ids")
struct EventIDTests {
    @Test("random ids are version-4 UUIDs in canonical form and do not repeat")
    func randomIDs() {
        let ids = (0..<10_000).map { _ in EventID.random() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            #expect(id.count == 36)
            #expect(Array(id)[14] == "4")
            #expect("89ab".contains(Array(id)[19]))
            #expect(EventValidator().validate(.object([
                ("event_id", .string(id)), ("type", .string("movie.like")), ("user_id", .string("u")),
                ("item_id", .string("m")), ("occurred_at", .string("2026-11-21T20:00:00Z")),
            ]), now: now) { "" }.map(\.eventID) == .success(id))
        }
    }
}
