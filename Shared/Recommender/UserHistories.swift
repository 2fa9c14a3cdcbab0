/// Every training user's interactions in time order (oldest first), each with its weight in the top-N
/// model's input: what a served model needs to score a known user the way it was evaluated, and to leave
/// out everything the user has already interacted with.
public struct UserHistories: Sendable, Hashable {
    /// Row `u` is `items[offsets[u]..<offsets[u + 1]]`.
    public let offsets: [Int]
    public let items: [Int32]
    /// The weight of each entry of `items` (0: seen, but not evidence for the model).
    public let weights: [Float]

    /// `offsets` must start at 0, never decrease, and end at `items.count == weights.count`.
    public init?(offsets: [Int], items: [Int32], weights: [Float]) {
        guard let first = offsets.first, first == 0, offsets.last == items.count, items.count == weights.count,
            zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 })
        else { return nil }
        self.offsets = offsets
        self.items = items
        self.weights = weights
    }

    /// Groups `interactions` by user, each user's in (timestamp, item) order, weighted by `weight`.
    public init(_ interactions: [Interaction], userCount: Int, weight: (Interaction) -> Float) {
        let ordered = interactions.sorted { ($0.user, $0.timestamp, $0.item) < ($1.user, $1.timestamp, $1.item) }
        var offsets = [Int](repeating: 0, count: userCount + 1)
        for interaction in ordered { offsets[Int(interaction.user) + 1] += 1 }
        for user in 0..<userCount { offsets[user + 1] += offsets[user] }
        self.offsets = offsets
        items = ordered.map(\.item)
        weights = ordered.map(weight)
    }

    public var userCount: Int { offsets.count - 1 }

    public func items(of user: Int) -> ArraySlice<Int32> { items[offsets[user]..<offsets[user + 1]] }

    /// Row `user` as (item, weight) pairs with a weight, in time order.
    public func weightedHistory(of user: Int) -> [(item: Int32, weight: Float)] {
        (offsets[user]..<offsets[user + 1]).compactMap { weights[$0] != 0 ? (items[$0], weights[$0]) : nil }
    }
}
