import Events
import Testing

@Suite("Strict JSON parser")
struct JSONParserTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test("parses every JSON kind and keeps member order")
    func parsesValues() throws {
        let value = try parse(#" { "b": [1, -2.5e3, true, false, null], "a": "x\n\u00e9\ud83c\udfac" } "#)
        #expect(value == .object([
            ("b", .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null])),
            ("a", .string("x\né🎬")),
        ]))
    }

    @Test("refuses malformed input with a reason", arguments: [
        ("", "invalid_json"), ("{", "invalid_json"), (#"{"a":1,}"#, "invalid_json"), ("[1 2]", "invalid_json"),
        ("01", "invalid_json"), ("1.", "invalid_json"), ("tru", "invalid_json"), (#"{"a":1} x"#, "invalid_json"),
        (#""\x""#, "invalid_json"), ("\"a\u{01}\"", "invalid_json"), (#"{"a":1,"a":2}"#, "duplicate_field"),
        (#""\ud800""#, "invalid_utf8"), (#""\udc00x""#, "invalid_utf8"),
    ])
    func refusesMalformed(text: String, reason: String) {
        let error = #expect(throws: JSONParseError.self) { try parse(text) }
        #expect(error?.reason.rawValue == reason)
    }

    @Test("refuses invalid UTF-8: stray continuation, overlong, surrogate, truncated, above U+10FFFF")
    func refusesInvalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xFF, 0x22]] {
            let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
            #expect(error?.reason == .invalidUTF8, "\(bytes)")
        }
    }

    @Test("nesting beyond the limit is refused without recursion trouble, even 10k deep")
    func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let error = #expect(throws: JSONParseError.self) { try parse(deep) }
        #expect(error?.reason == .tooDeep)
        let deepObject = String(repeating: #"{"a":"#, count: 40) + "1" + String(repeating: "}", count: 40)
        #expect(throws: JSONParseError.self) { try parse(deepObject) }
        #expect((try? parse(String(repeating: "[", count: 32) + String(repeating: "]", count: 32))) != nil)
    }

    @Test("objects are bounded in fields, and duplicates are found in large objects too, in linear time")
    func objectBounds() {
        let many = "{" + (0..<300).map { "\"k\($0)\":0" }.joined(separator: ",") + "}"
        #expect((#expect(throws: JSONParseError.self) { try parse(many) })?.reason == .tooManyFields)
        let duplicateLate = "{" + (0..<200).map { "\"k\($0)\":0" }.joined(separator: ",") + ",\"k150\":1}"
        #expect((#expect(throws: JSONParseError.self) { try parse(duplicateLate) })?.reason == .duplicateKey)
        let fine = "{" + (0..<256).map { "\"k\($0)\":0" }.joined(separator: ",") + "}"
        #expect((try? parse(fine)) != nil)
    }

    @Test("writer escapes what JSON requires and sorts keys by bytes")
    func writer() throws {
        var writer = JSONWriter()
        writer.value(.object([("b", .string("q\"\\\u{01}\n")), ("a", .number("1")), ("Z", .null)]))
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"Z":null,"a":1,"b":"q\"\\\u0001\n"}"#)
        // What the writer produces parses back to the same value.
        #expect(try JSONParser.parse(writer.bytes) == .object([("Z", .null), ("a", .number("1")), ("b", .string("q\"\\\u{01}\n"))]))
    }
}

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("parses UTC, offsets and fractions; formats in UTC with milliseconds")
    func parseAndFormat() {
        #expect(RFC3339.parse("1970-01-01T00:00:00Z")?.millisecondsSinceEpoch == 0)
        #expect(RFC3339.parse("2026-11-21T20:36:18.123Z")?.millisecondsSinceEpoch == 1_795_293_378_123)
        #expect(RFC3339.parse("2026-11-21T21:36:18.123+01:00")?.millisecondsSinceEpoch == 1_795_293_378_123)
        #expect(RFC3339.parse("2026-11-21t20:36:18.1239z")?.millisecondsSinceEpoch == 1_795_293_378_123)
        #expect(RFC3339.parse("2024-02-29T12:00:00Z") != nil)
        #expect(RFC3339.parse("1969-12-31T23:59:59.999Z")?.millisecondsSinceEpoch == -1)
        #expect(RFC3339.format(EventTimestamp(millisecondsSinceEpoch: 1_795_293_378_123)) == "2026-11-21T20:36:18.123Z")
        #expect(RFC3339.format(EventTimestamp(millisecondsSinceEpoch: -1)) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.format(EventTimestamp(millisecondsSinceEpoch: 951_782_400_000)) == "2000-02-29T00:00:00.000Z")
    }

    @Test("refuses what is not a full RFC 3339 date-time", arguments: [
        "2026-11-21", "2026-11-21 20:36:18Z", "2026-11-21T20:36:18", "2026-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2026-11-21T24:00:00Z", "2026-11-21T20:36:18.Z", "2026-11-21T20:36:18+0100", "2026-11-21T20:36:18Z ", "yesterday",
    ])
    func refuses(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("format and parse round-trip over a wide range")
    func roundTrip() {
        var value: Int64 = -62_135_596_800_000  // 0001-01-01
        while value < 4_102_444_800_000 {  // 2100-01-01
            let timestamp = EventTimestamp(millisecondsSinceEpoch: value)
            #expect(RFC3339.parse(RFC3339.format(timestamp)) == timestamp)
            value += 86_399_999 * 37 + 123
        }
    }
}
