import Events
@testable import Features
import Testing

@Suite("History entries as stored in Redis")
struct HistoryEntryTests {
    @Test("time|type|item|units|event_id parses, also with '|' inside the item; malformed members are nil")
    func parse() {
        let entry = FeatureReader.historyEntry("1700000000123|movie.like|m|1|x|10000|3f1e")
        #expect(entry?.item == "m|1|x")
        #expect(entry?.type == .movieLike)
        #expect(entry?.weight == EventWeights.weight(10000))
        #expect(entry?.occurredAt.millisecondsSinceEpoch == 1_700_000_000_123)
        #expect(entry?.eventID == "3f1e")
        #expect(FeatureReader.historyEntry("1|poll.vote|p|-2500|e")?.item == "p")
        for malformed in ["", "1|movie.like|m|10000", "x|movie.like|m|1|e", "1|no.such|m|1|e", "1|movie.like|m|abc|e", "||||"] {
            #expect(FeatureReader.historyEntry(malformed) == nil, "\(malformed)")
        }
    }
}
