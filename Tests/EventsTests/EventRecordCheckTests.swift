import Events
import Testing

@Suite("A record read from an event topic: the processor's rules, shared with the dead-letter redrive")
struct EventRecordCheckTests {
    let check = EventRecordCheck(topics: EventTopics(movie: "t.movie", poll: "t.poll"), maximumRecordBytes: 1024)
    let like = Event(
        eventID: "8f14e45f-ceea-467f-a0e6-3c2d1f7a9b10", type: .movieLike, userID: "u1", subjectID: "m1",
        occurredAt: EventTimestamp(millisecondsSinceEpoch: 1_700_000_000_000), payload: .none
    )

    @Test("a valid event on its domain's topic passes, with or without the current schema-version header")
    func validEventPasses() throws {
        for version in [nil, Event.schemaVersion] {
            let event = try check.check(value: like.canonicalJSON(), schemaVersion: version, topic: "t.movie").get()
            #expect(event.eventID == like.eventID)
            #expect(event.subjectID == "m1")
        }
    }

    @Test("too large, another schema version, invalid JSON, the other domain's topic: each refused with its reason")
    func refusals() {
        func reason(_ value: [UInt8], _ version: String?, _ topic: String) -> String? {
            if case .failure(let rejection) = check.check(value: value, schemaVersion: version, topic: topic) { return rejection.reason }
            return nil
        }
        #expect(reason(Array(repeating: UInt8(ascii: " "), count: 1025), nil, "t.movie") == "record_too_large")
        #expect(reason(like.canonicalJSON(), "99", "t.movie") == "unsupported_schema_version")
        #expect(reason(Array("{".utf8), nil, "t.movie") != nil)
        #expect(reason(like.canonicalJSON(), nil, "t.poll") == "wrong_topic")
    }
}
