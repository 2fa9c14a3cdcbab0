/// One observed interaction: a user, an item, a value (an explicit rating, or an implicit weight) and
/// when it happened. Users and items are dense indices (`0..<count`); ``IDMap`` translates.
public struct Interaction: Sendable, Hashable {
    public var user: Int32
    public var item: Int32
    public var value: Float
    public var timestamp: Int64

    public init(user: Int32, item: Int32, value: Float, timestamp: Int64 = 0) {
        self.user = user
        self.item = item
        self.value = value
        self.timestamp = timestamp
    }
}

/// External ids ↔ dense indices, in first-seen order.
public struct IDMap: Sendable, Hashable {
    public private(set) var ids: [String] = []
    private var indices: [String: Int32] = [:]

    public init() {}

    public var count: Int { ids.count }

    /// The index of `id`, adding it if new.
    public mutating func index(for id: String) -> Int32 {
        if let index = indices[id] { return index }
        let index = Int32(ids.count)
        ids.append(id)
        indices[id] = index
        return index
    }

    public func index(of id: String) -> Int32? { indices[id] }

    public func id(at index: Int32) -> String { ids[Int(index)] }
}

/// Interactions in compressed sparse rows, by user and by item, for the models' inner loops.
public struct InteractionMatrix: Sendable {
    public let userCount: Int
    public let itemCount: Int
    /// Row `u` is `userItems[userOffsets[u]..<userOffsets[u + 1]]` (items sorted ascending).
    public let userOffsets: [Int]
    public let userItems: [Int32]
    public let userValues: [Float]
    public let itemOffsets: [Int]
    public let itemUsers: [Int32]
    public let itemValues: [Float]

    /// Builds both orientations. Duplicate (user, item) pairs keep the last value given.
    public init(_ interactions: [Interaction], userCount: Int, itemCount: Int) {
        self.userCount = userCount
        self.itemCount = itemCount
        var latest: [Int64: Float] = [:]
        latest.reserveCapacity(interactions.count)
        for interaction in interactions {
            latest[Int64(interaction.user) << 32 | Int64(interaction.item)] = interaction.value
        }
        let pairs = latest.map { (user: Int32($0.key >> 32), item: Int32(truncatingIfNeeded: $0.key), value: $0.value) }
        (userOffsets, userItems, userValues) = Self.rows(pairs.map { ($0.user, $0.item, $0.value) }, rowCount: userCount)
        (itemOffsets, itemUsers, itemValues) = Self.rows(pairs.map { ($0.item, $0.user, $0.value) }, rowCount: itemCount)
    }

    private static func rows(_ entries: [(Int32, Int32, Float)], rowCount: Int) -> ([Int], [Int32], [Float]) {
        let sorted = entries.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var offsets = [Int](repeating: 0, count: rowCount + 1)
        for entry in sorted { offsets[Int(entry.0) + 1] += 1 }
        for row in 0..<rowCount { offsets[row + 1] += offsets[row] }
        return (offsets, sorted.map(\.1), sorted.map(\.2))
    }

    public var count: Int { userItems.count }

    public func items(of user: Int) -> ArraySlice<Int32> { userItems[userOffsets[user]..<userOffsets[user + 1]] }
    public func values(of user: Int) -> ArraySlice<Float> { userValues[userOffsets[user]..<userOffsets[user + 1]] }
    /// Row `user` as (item, value) pairs: a weighted history, as EASE scores it.
    public func weightedHistory(of user: Int) -> [(item: Int32, weight: Float)] {
        zip(items(of: user), values(of: user)).map { (item: $0, weight: $1) }
    }
    public func users(of item: Int) -> ArraySlice<Int32> { itemUsers[itemOffsets[item]..<itemOffsets[item + 1]] }
}
