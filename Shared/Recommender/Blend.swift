/// A linear blend of two scorers' standardised scores: for each user, each model's catalog scores are
/// turned into z-scores (so their scales do not matter) and mixed with weight `weight` on the first.
public struct ScoreBlend: Sendable {
    public var weight: Float

    public init(weight: Float) {
        self.weight = weight
    }

    /// Mixes `first` and `second` (same length) into `output`.
    public func combine(_ first: UnsafeBufferPointer<Float>, _ second: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) {
        let (meanA, scaleA) = Self.standardisation(first)
        let (meanB, scaleB) = Self.standardisation(second)
        for index in 0..<output.count {
            output[index] = weight * (first[index] - meanA) * scaleA + (1 - weight) * (second[index] - meanB) * scaleB
        }
    }

    static func standardisation(_ values: UnsafeBufferPointer<Float>) -> (mean: Float, inverseDeviation: Float) {
        guard !values.isEmpty else { return (0, 1) }
        var sum: Double = 0
        var squares: Double = 0
        for value in values {
            sum += Double(value)
            squares += Double(value) * Double(value)
        }
        let mean = sum / Double(values.count)
        let variance = max(0, squares / Double(values.count) - mean * mean)
        return (Float(mean), variance > 0 ? Float(1 / variance.squareRoot()) : 1)
    }
}

extension ModelSelection {
    /// The ALS/EASE blend weight (share of ALS) with the best validation nDCG@10, given models already
    /// fitted on `split.fit`.
    public static func blendWeight(
        als: ImplicitALS, ease: EASE, split: ValidationSplit, weights: [Float] = [0, 0.2, 0.4, 0.5, 0.6, 0.8, 1]
    ) -> (weight: Float, validationNDCG: Double) {
        var best = (weight: Float(0), validationNDCG: -1.0)
        for weight in weights {
            let blend = ScoreBlend(weight: weight)
            let score = split.ndcg { user, excluded in
                blend.recommend(user: Int(user), als: als, ease: ease, history: split.matrix.items(of: Int(user)), k: 10, excluding: excluded)
            }
            if score > best.validationNDCG { best = (weight, score) }
        }
        return best
    }
}

extension ScoreBlend {
    /// Top-k of the blended ALS and EASE scores for a known user.
    public func recommend(user: Int, als: ImplicitALS, ease: EASE, history: some Sequence<Int32>, k: Int, excluding seen: Set<Int32>) -> [Int32] {
        let n = ease.itemCount
        var alsScores = [Float](repeating: 0, count: n)
        var easeScores = [Float](repeating: 0, count: n)
        var blended = [Float](repeating: 0, count: n)
        let factors = als.configuration.factors
        als.userFactors.withUnsafeBufferPointer { all in
            let vector = UnsafeBufferPointer(rebasing: all[(user * factors)..<((user + 1) * factors)])
            alsScores.withUnsafeMutableBufferPointer { als.scoreAll(userVector: vector, into: $0) }
        }
        easeScores.withUnsafeMutableBufferPointer { ease.scores(for: history, into: $0) }
        alsScores.withUnsafeBufferPointer { a in
            easeScores.withUnsafeBufferPointer { e in
                blended.withUnsafeMutableBufferPointer { combine(a, e, into: $0) }
            }
        }
        return TopK.select(blended, k: k) { seen.contains(Int32($0)) }.map { Int32($0.index) }
    }
}
