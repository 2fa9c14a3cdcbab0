import Events
import Testing

/// `recommendation_id` and `position` on interactions: optional (old events stay valid), validated with a
/// code and the field, written in canonical JSON, and agreed with the JSON Schema.
@Suite("Attribution fields (recommendation_id, position)")
struct AttributionFieldsTests {
    static let id = "6F1C2A9E-3B1D-4C55-9A57-0C3E8F2D7B41"

    @Test("accepted on every interaction type; the id is written lower-case; both paths of canonical JSON agree")
    func accepted() throws {
        for json in [
            #"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","recommendation_id":"\#(Self.id)","position":3}"#,
            #"{"type":"movie.rating","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","value":4.5,"recommendation_id":"\#(Self.id)","position":1.0}"#,
            #"{"type":"poll.vote","user_id":"u1","poll_id":"p1","occurred_at":"2026-11-21T20:00:00Z","option_id":"a","recommendation_id":"\#(Self.id)"}"#,
        ] {
            let event = try validate(json).get()
            #expect(event.recommendationID == Self.id.lowercased(), "\(json)")
            #expect(JSONWriter.encode(event.jsonValue) == event.canonicalJSON(), "\(json)")
            #expect(try Event.decode(event.canonicalJSON()) == event, "\(json)")
        }
        let like = try validate(#"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","recommendation_id":"\#(Self.id)","position":3}"#).get()
        #expect(like.position == 3)
        let text = String(decoding: like.canonicalJSON(), as: UTF8.self)
        #expect(text.contains(#""position":3,"recommendation_id":"6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41","type""#), "\(text)")
        // Old events: unchanged, no attribution.
        let old = try validate(#"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z"}"#).get()
        #expect(old.recommendationID == nil && old.position == nil)
        #expect(!String(decoding: old.canonicalJSON(), as: UTF8.self).contains("recommendation_id"))
    }

    @Test("refused with a code and the field")
    func refused() {
        let cases: [(String, EventValidationError.Code, String)] = [
            (#""recommendation_id":"not-a-uuid""#, .invalidFormat, "recommendation_id"),
            (#""recommendation_id":42"#, .wrongType, "recommendation_id"),
            (#""recommendation_id":null"#, .wrongType, "recommendation_id"),
            (#""recommendation_id":"\#(Self.id)","position":0"#, .outOfRange, "position"),
            (#""recommendation_id":"\#(Self.id)","position":1.5"#, .outOfRange, "position"),
            (#""recommendation_id":"\#(Self.id)","position":1001"#, .outOfRange, "position"),
            (#""recommendation_id":"\#(Self.id)","position":"2""#, .wrongType, "position"),
            (#""position":2"#, .fieldNotAllowed, "position"),
        ]
        for (fields, code, field) in cases {
            let json = #"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z",\#(fields)}"#
            guard case .failure(let error) = validate(json) else { Issue.record("accepted: \(json)"); continue }
            #expect(error.code == code, "\(json): \(error)")
            #expect(error.field == field, "\(json): \(error)")
        }
        let catalog = #"{"type":"movie.added","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","title":"T","recommendation_id":"\#(Self.id)"}"#
        guard case .failure(let error) = validate(catalog) else { Issue.record("catalog event accepted with attribution"); return }
        #expect(error.code == .fieldNotAllowed && error.field == "recommendation_id")
    }

    @Test("the JSON Schema agrees: attribution on interactions valid; position alone, a bad id, or on a catalog event invalid")
    func schemaAgrees() throws {
        let valid = [
            #"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","recommendation_id":"\#(Self.id)","position":3}"#,
            #"{"type":"poll.share","user_id":"u1","poll_id":"p1","occurred_at":"2026-11-21T20:00:00Z","recommendation_id":"\#(Self.id)"}"#,
        ]
        let invalid = [
            #"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","position":3}"#,
            #"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","recommendation_id":"x"}"#,
            #"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","recommendation_id":"\#(Self.id)","position":0}"#,
            #"{"type":"movie.added","user_id":"u1","item_id":"m1","occurred_at":"2026-11-21T20:00:00Z","title":"T","recommendation_id":"\#(Self.id)"}"#,
        ]
        #expect(try EventSchemaTests().schemaVerdicts(valid) == [true, true])
        #expect(try EventSchemaTests().schemaVerdicts(invalid) == [false, false, false, false])
        for json in valid { #expect((try? validate(json).get()) != nil) }
        for json in invalid { #expect((try? validate(json).get()) == nil) }
    }
}
