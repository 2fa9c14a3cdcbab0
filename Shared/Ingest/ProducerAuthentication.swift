/// Checks producer API keys. Keys are compared in constant time, and every configured key is compared
/// on every attempt, so response time says nothing about how much of a key was right or which key
/// came close.
public struct ProducerAuthenticator: Sendable {
    public enum Outcome: Sendable, Equatable {
        case authenticated(producer: String)
        /// No key was sent (401).
        case missing
        /// A key was sent but matches none (403).
        case rejected
    }

    private let keys: [(name: String, key: [UInt8])]
    private let catalogProducers: Set<String>
    public let isOpen: Bool

    /// - Parameter catalogProducers: names (of `keys`) that may send catalog events.
    public init(mode: IngestConfiguration.AuthMode, keys: [String: String], catalogProducers: Set<String> = []) {
        isOpen = mode == .open
        self.keys = keys.sorted { $0.key < $1.key }.map { ($0.key, Array($0.value.utf8)) }
        self.catalogProducers = catalogProducers
    }

    /// Whether a producer (a name ``authenticate(_:)`` returned) may send catalog events (`movie.added`,
    /// `poll.created`). They add items every user may be recommended, so only the keys named in
    /// `gateway.catalog_producers` may; any key may send interactions. Open mode (local runs) allows all.
    public func maySendCatalog(_ producer: String) -> Bool {
        isOpen || catalogProducers.contains(producer)
    }

    /// `presented` is the `X-API-Key` header, or the token of `Authorization: Bearer <token>`.
    public func authenticate(_ presented: String?) -> Outcome {
        if isOpen { return .authenticated(producer: "open") }
        guard let presented, !presented.isEmpty else { return .missing }
        let candidate = Array(presented.utf8)
        var match: String?
        for entry in keys where Self.constantTimeEqual(entry.key, candidate) {
            match = entry.name
        }
        return match.map { .authenticated(producer: $0) } ?? .rejected
    }

    /// Compares all bytes of the longer input whatever the contents; lengths leak only through the
    /// length check result, which is folded into the same accumulator.
    static func constantTimeEqual(_ expected: [UInt8], _ candidate: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: expected.count ^ candidate.count)
        let length = max(expected.count, candidate.count)
        for index in 0..<length {
            let a = index < expected.count ? expected[index] : 0
            let b = index < candidate.count ? candidate[index] : 0
            difference |= a ^ b
        }
        return difference == 0 && expected.count == candidate.count
    }
}
