/// The Wilson score interval of a rate (positives out of trials): unlike the normal approximation it stays
/// within [0, 1] and is sensible for small counts and rates near 0, which like-through rates are.
public struct WilsonInterval: Sendable, Hashable {
    public var lower: Double
    public var upper: Double

    /// `z` = 1.96: 95 %. Trials 0: the whole [0, 1].
    public init(positives: Int, trials: Int, z: Double = 1.959_963_984_540_054) {
        guard trials > 0 else {
            lower = 0
            upper = 1
            return
        }
        let n = Double(trials)
        let p = Double(positives) / n
        let z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z * ((p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()) / (1 + z2 / n)
        lower = max(0, centre - half)
        upper = min(1, centre + half)
    }
}
