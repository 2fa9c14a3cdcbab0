import Events
import Redis
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

    @Test("Times and units are read as decimal integers without a String; units written as a decimal fraction still parse")
    func decimals() {
        #expect(ASCIIDecimal.int64(Array("1700000000123".utf8)[...]) == 1_700_000_000_123)
        #expect(ASCIIDecimal.int64(Array("-2500".utf8)[...]) == -2500)
        #expect(ASCIIDecimal.int64(Array("0".utf8)[...]) == 0)
        #expect(ASCIIDecimal.int64(Array("9223372036854775807".utf8)[...]) == Int64.max)
        for malformed in ["", "-", "1.5", "12a", " 1", "9223372036854775808", "99999999999999999999"] {
            #expect(ASCIIDecimal.int64(Array(malformed.utf8)[...]) == nil, "\(malformed)")
        }
        #expect(FeatureReader.historyEntry("5|movie.rating|m|2500.5|e")?.weight == EventWeights.weight(2500.5))
        #expect(FeatureReader.historyTime(Array("42|movie.like|m|1|e".utf8)) == 42)
        #expect(FeatureReader.historyTime(Array("x|movie.like|m|1|e".utf8)) == nil)
    }

    @Test("With a since, entries at or before it are left out and the rest come newest first")
    func since() throws {
        let member = { (time: Int, item: String) in RedisValue.bulkString(Array("\(time)|movie.like|\(item)|10000|e\(item)".utf8)) }
        let reply = RedisValue.array([
            .bulkString(Array("h:0".utf8)), member(100, "a"), .bulkString(Array("h:1".utf8)), member(300, "c"),
            .bulkString(Array("s:a".utf8)), .bulkString(Array("100".utf8)), .bulkString(Array("h:2".utf8)), member(200, "b"),
        ])
        let read = try FeatureReader.seenAndHistory(reply, seen: true, historyLimit: 10, since: 150)
        #expect(read.history.map(\.item) == ["c", "b"])
        #expect(read.seen == ["a"])
        #expect(try FeatureReader.seenAndHistory(reply, seen: false, historyLimit: 10, since: nil).history.map(\.item) == ["c", "b", "a"])
    }
}

@Suite("A record's reference as stored with its event id")
struct RecordReferenceTests {
    @Test("topic/partition/offset, the same whether made as a string or written into an argument in place")
    func reference() {
        let position = RecordPosition(topic: "movie-events", partition: 11, offset: 9_007_199_254_740_993)
        #expect(position.reference == "movie-events/11/9007199254740993")
        var buffer = Array("prefix:".utf8)
        position.appendReference(to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "prefix:movie-events/11/9007199254740993")
        #expect(RecordPosition(topic: "t", partition: 0, offset: 0).reference == "t/0/0")
        // The extremes, against the interpolated form the reference had before it was written in place.
        for (partition, offset) in [(Int32.max, Int64.max), (Int32.min, Int64.min), (-1, -1), (7, 10)] {
            #expect(RecordPosition(topic: "a.b", partition: partition, offset: offset).reference == "a.b/\(partition)/\(offset)")
        }
    }
}
