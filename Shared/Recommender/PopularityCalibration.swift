#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A linear correction of predicted ratings by how often the item was rated: `offset(count) = intercept +
/// slope × ln(1 + count)`, fitted by least squares on held-out residuals (stacking on a validation split,
/// never on test). Why: a rating model shrinks the bias of a rarely rated item toward the global mean, but
/// rarely rated items are, on average, rated lower than that (people rate what they chose to watch, and they
/// choose the well-known good films first), and a user's later ratings reach further into the catalog's
/// tail; on MovieLens 100K the held-out residuals grow with the item's log count (docs/benchmarks.md, issue 18).
public struct PopularityCalibration: Sendable, Hashable {
    public var intercept: Float
    public var slope: Float

    public init(intercept: Float, slope: Float) {
        self.intercept = intercept
        self.slope = slope
    }

    public func offset(count: Int) -> Float {
        intercept + slope * Float(log1p(Double(max(0, count))))
    }

    /// Least squares of `actual − predicted` on [1, ln(1 + count)] (a tiny ridge keeps it defined).
    public static func fit(predicted: [Float], actual: [Float], counts: [Int]) -> PopularityCalibration {
        var a = [[0.0, 0.0], [0.0, 0.0]]
        var b = [0.0, 0.0]
        for index in predicted.indices {
            let x = log1p(Double(max(0, counts[index])))
            let residual = Double(actual[index] - predicted[index])
            a[0][0] += 1
            a[0][1] += x
            a[1][1] += x * x
            b[0] += residual
            b[1] += x * residual
        }
        a[1][0] = a[0][1]
        a[0][0] += 1e-3
        a[1][1] += 1e-3
        let solution = DenseSolver.solve(a, b)
        return PopularityCalibration(intercept: Float(solution[0]), slope: Float(solution[1]))
    }

    /// The per-item offsets for items rated `counts[item]` times.
    public func itemOffsets(counts: [Int]) -> [Float] {
        counts.map { offset(count: $0) }
    }

    /// Ratings per item in `interactions`.
    public static func counts(_ interactions: [Interaction], itemCount: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: itemCount)
        for interaction in interactions where Int(interaction.item) < itemCount { counts[Int(interaction.item)] += 1 }
        return counts
    }
}
