import Events
import Testing

@Suite("W3C traceparent")
struct TraceParentTests {
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let parentID = "00f067aa0ba902b7"

    @Test("a valid version-00 header is parsed and written back unchanged")
    func valid() throws {
        let header = "00-\(Self.traceID)-\(Self.parentID)-01"
        let parsed = try #require(TraceParent(header))
        #expect(parsed.traceID == Self.traceID)
        #expect(parsed.parentID == Self.parentID)
        #expect(parsed.flags == 1)
        #expect(parsed.isSampled)
        #expect(parsed.description == header)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-00")?.isSampled == false)
    }

    @Test("version ff, a version that is not hex, and version 00 with more fields are refused")
    func invalidVersion() {
        #expect(TraceParent("ff-\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("0g-\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-01-extra") == nil)
        #expect(TraceParent("00-\(Self.traceID)-\(Self.parentID)-0") == nil)
    }

    @Test("a later version is read by version 00's rules, extra fields after a dash ignored; written as 00")
    func laterVersion() throws {
        let parsed = try #require(TraceParent("01-\(Self.traceID)-\(Self.parentID)-01-what-comes-next"))
        #expect(parsed.description == "00-\(Self.traceID)-\(Self.parentID)-01")
        #expect(TraceParent("01-\(Self.traceID)-\(Self.parentID)-01x") == nil)
    }

    @Test("all-zero trace or parent ids are refused")
    func allZeroIDs() {
        #expect(TraceParent("00-00000000000000000000000000000000-\(Self.parentID)-01") == nil)
        #expect(TraceParent("00-\(Self.traceID)-0000000000000000-01") == nil)
        #expect(TraceParent(traceID: String(repeating: "0", count: 32), parentID: Self.parentID, flags: 1) == nil)
    }

    @Test("uppercase hex, wrong separators, short ids and empty values are refused")
    func malformed() {
        #expect(TraceParent("00-\(Self.traceID.uppercased())-\(Self.parentID)-01") == nil)
        #expect(TraceParent("00_\(Self.traceID)-\(Self.parentID)-01") == nil)
        #expect(TraceParent("00-\(Self.traceID.dropLast())-\(Self.parentID)0-01") == nil)
        #expect(TraceParent("") == nil)
        #expect(TraceParent(traceID: Self.traceID, parentID: "abc", flags: 0) == nil)
        #expect(TraceParent(traceID: Self.traceID, parentID: Self.parentID, flags: 3)?.description == "00-\(Self.traceID)-\(Self.parentID)-03")
    }
}
