import Events
import Foundation
import Testing

@Suite("Event ids read as 128 bits") struct EventIDBitsTests {
    /// The bits as Foundation's parser reads them, for comparison.
    private static func foundationBits(_ text: String) -> (high: UInt64, low: UInt64)? {
        guard let uuid = UUID(uuidString: text) else { return nil }
        return withUnsafeBytes(of: uuid.uuid) { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian, raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).bigEndian)
        }
    }

    @Test func readsEveryRandomIdAsFoundationDoes() {
        for _ in 0..<1000 {
            let id = EventID.random()
            let bits = EventID.bits(of: id), expected = Self.foundationBits(id)
            #expect(bits != nil && bits?.high == expected?.high && bits?.low == expected?.low, "\(id)")
            let upper = EventID.bits(of: id.uppercased())
            #expect(upper?.high == bits?.high && upper?.low == bits?.low)
        }
        let known = EventID.bits(of: "01234567-89ab-cdef-0123-456789ABCDEF")
        #expect(known?.high == 0x0123_4567_89AB_CDEF && known?.low == 0x0123_4567_89AB_CDEF)
        // Lower-case only when asked (the idempotency cache's keys): an upper-case spelling is not read.
        #expect(EventID.bits(of: "01234567-89ab-cdef-0123-456789ABCDEF", acceptingUpperCase: false) == nil)
        let lower = EventID.bits(of: "01234567-89ab-cdef-0123-456789abcdef", acceptingUpperCase: false)
        #expect(lower?.high == known?.high && lower?.low == known?.low)
    }

    @Test func refusesWhatIsNotACanonicalUUID() {
        for text in [
            "", "not-a-uuid", "01234567-89ab-cdef-0123-456789abcde", "01234567-89ab-cdef-0123-456789abcdef0",
            "0123456789ab-cdef-0123-456789abcdef-", "01234567-89ab-cdef-0123_456789abcdef", "g1234567-89ab-cdef-0123-456789abcdef",
            "{1234567-89ab-cdef-0123-456789abcdef", "01234567-89ab-cdef-0123-456789abcdeé",
        ] {
            #expect(EventID.bits(of: text) == nil, "\(text)")
            #expect(Self.foundationBits(text) == nil, "Foundation reads \(text)")
        }
    }
}
