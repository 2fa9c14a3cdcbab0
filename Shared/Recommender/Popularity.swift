#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Most-popular items: the sum of positive interaction weights per item, optionally decayed with age
/// (half-life), so recent interest counts more.
public struct Popularity: Sendable {
    public let scores: [Float]

    /// - Parameters:
    ///   - isPositive: which interactions count (e.g. ratings ≥ 4, likes, votes).
    ///   - halfLife: seconds after which an interaction counts half; `nil` for plain counts.
    ///   - now: reference time (seconds) for the decay.
    public init(
        _ interactions: [Interaction], itemCount: Int, isPositive: (Interaction) -> Bool = { _ in true },
        halfLife: Double? = nil, now: Int64 = 0
    ) {
        var scores = [Float](repeating: 0, count: itemCount)
        for interaction in interactions where isPositive(interaction) {
            var weight = 1.0
            if let halfLife {
                let age = Double(max(0, now - interaction.timestamp))
                weight = exp2(-age / halfLife)
            }
            scores[Int(interaction.item)] += Float(weight)
        }
        self.scores = scores
    }

    /// The `k` most popular items not excluded, best first (ties: lower index first).
    public func top(_ k: Int, excluding excluded: (Int) -> Bool = { _ in false }) -> [Int32] {
        TopK.select(scores, k: k, excluded: excluded).map { Int32($0.index) }
    }
}
