/// A set of item indices of one catalog, one bit per item: membership without hashing, for the sets the
/// serving path builds per request (a known user's training history holds hundreds of items, and hashing
/// each into a `Set` cost more than the scoring it guards).
public struct ItemBitSet: Sendable, Hashable {
    private var words: [UInt64]

    public init(itemCount: Int) {
        words = [UInt64](repeating: 0, count: (itemCount + 63) / 64)
    }

    public init(itemCount: Int, _ items: some Sequence<Int32>) {
        self.init(itemCount: itemCount)
        for item in items { insert(item) }
    }

    /// `item` must be an index of the catalog the set was made for.
    public mutating func insert(_ item: Int32) {
        words[Int(item) >> 6] |= 1 << UInt64(item & 63)
    }

    public func contains(_ item: Int32) -> Bool { contains(Int(item)) }

    public func contains(_ index: Int) -> Bool {
        words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }
}
