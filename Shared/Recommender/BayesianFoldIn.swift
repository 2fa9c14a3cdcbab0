/// Predicted ratings of Bayesian MF (``BayesianMF``) for someone the model was not trained on, from the
/// ratings they give: what `POST /v1/predict` serves.
///
/// In each kept Gibbs sample, the new user's bias and factors have a Gaussian posterior given that
/// sample's item parameters, noise precision and user priors; its mean is a (k+1)-dimensional ridge
/// solve. A prediction averages, over the samples, the sample's prediction with that mean (each clipped to
/// the rating scale, as ``BayesianMF/predict(user:item:)`` does): the posterior-mean fold-in. Only the item
/// side of a sample is kept, and only `keeping` samples spread evenly over the chain, which bounds the
/// artifact and the per-request cost.
public struct BayesianFoldIn: Sendable {
    public let factors: Int
    public let itemCount: Int
    public let ratingRange: ClosedRange<Float>
    public var sampleCount: Int { globalBiases.count }
    /// Per sample.
    public let globalBiases: [Float]
    public let noisePrecisions: [Float]
    /// Per sample, k + 1 each: the users' prior for the bias, then for each factor.
    public let priorMeans: [Float]
    public let priorPrecisions: [Float]
    /// Per sample, one per item / k per item.
    public let itemBiases: [Float]
    public let itemFactors: [Float]
    /// 1 for an item with training ratings; the others' parameters are prior draws and are left out.
    public let knownItems: [Float]

    /// The served part of `model`: `keeping` of its samples, evenly spaced (all if it has fewer).
    public init(_ model: BayesianMF, keeping: Int) {
        let k = model.configuration.factors
        let samples = model.samples
        let count = max(1, min(keeping, samples.count))
        let chosen = (0..<count).map { samples[$0 * samples.count / count] }
        factors = k
        itemCount = model.itemCount
        ratingRange = model.configuration.ratingRange
        globalBiases = chosen.map(\.globalBias)
        noisePrecisions = chosen.map(\.noisePrecision)
        // Samples from before priors were recorded fall back to a unit prior around 0.
        priorMeans = chosen.flatMap { $0.userPriorMeans.count == k + 1 ? $0.userPriorMeans : [Float](repeating: 0, count: k + 1) }
        priorPrecisions = chosen.flatMap { $0.userPriorPrecisions.count == k + 1 ? $0.userPriorPrecisions : [Float](repeating: 1, count: k + 1) }
        itemBiases = chosen.flatMap(\.itemBias)
        itemFactors = chosen.flatMap(\.itemFactors)
        knownItems = model.knownItems.map { $0 ? 1 : 0 }
    }

    /// From stored arrays; nil if their shapes do not agree.
    public init?(
        factors: Int, itemCount: Int, ratingRange: ClosedRange<Float>, globalBiases: [Float], noisePrecisions: [Float], priorMeans: [Float],
        priorPrecisions: [Float], itemBiases: [Float], itemFactors: [Float], knownItems: [Float]
    ) {
        let samples = globalBiases.count
        guard factors > 0, samples > 0, noisePrecisions.count == samples, priorMeans.count == samples * (factors + 1),
            priorPrecisions.count == samples * (factors + 1), itemBiases.count == samples * itemCount,
            itemFactors.count == samples * itemCount * factors, knownItems.count == itemCount
        else { return nil }
        self.factors = factors
        self.itemCount = itemCount
        self.ratingRange = ratingRange
        self.globalBiases = globalBiases
        self.noisePrecisions = noisePrecisions
        self.priorMeans = priorMeans
        self.priorPrecisions = priorPrecisions
        self.itemBiases = itemBiases
        self.itemFactors = itemFactors
        self.knownItems = knownItems
    }

    /// A folded-in user: per sample, the posterior mean of [bias, factors…].
    public struct FoldedUser: Sendable {
        public var parameters: [Float]
    }

    public func foldIn(_ ratings: [(item: Int, rating: Float)]) -> FoldedUser {
        let known = ratings.filter { $0.item >= 0 && $0.item < itemCount && knownItems[$0.item] > 0 }
        let n = factors + 1
        var parameters = [Float](repeating: 0, count: sampleCount * n)
        var a = [Double](repeating: 0, count: n * n)
        var b = [Double](repeating: 0, count: n)
        var features = [Double](repeating: 1, count: n)
        for sample in 0..<sampleCount {
            for index in a.indices { a[index] = 0 }
            let alpha = Double(noisePrecisions[sample])
            for row in 0..<n {
                let precision = Double(priorPrecisions[sample * n + row])
                a[row * n + row] = precision
                b[row] = precision * Double(priorMeans[sample * n + row])
            }
            let itemBase = sample * itemCount
            for (item, rating) in known {
                let factorBase = (itemBase + item) * factors
                for f in 0..<factors { features[f + 1] = Double(itemFactors[factorBase + f]) }
                let target = alpha * Double(rating - globalBiases[sample] - itemBiases[itemBase + item])
                for row in 0..<n {
                    b[row] += features[row] * target
                    let scaled = alpha * features[row]
                    for column in 0...row { a[row * n + column] += scaled * features[column] }
                }
            }
            let mean = DenseSolver.choleskySolve(&a, b, n: n)
            for row in 0..<n { parameters[sample * n + row] = Float(mean[row]) }
        }
        return FoldedUser(parameters: parameters)
    }

    /// The predicted rating of `item` (an index; an unknown item gets the user's bias only).
    public func predict(_ user: FoldedUser, item: Int) -> Float {
        let n = factors + 1
        let itemKnown = item >= 0 && item < itemCount && knownItems[item] > 0
        var total: Double = 0
        for sample in 0..<sampleCount {
            var value = globalBiases[sample] + user.parameters[sample * n]
            if itemKnown {
                let itemBase = sample * itemCount + item
                value += itemBiases[itemBase]
                let factorBase = itemBase * factors
                for f in 0..<factors { value += itemFactors[factorBase + f] * user.parameters[sample * n + f + 1] }
            }
            total += Double(min(ratingRange.upperBound, max(ratingRange.lowerBound, value)))
        }
        return Float(total / Double(sampleCount))
    }
}
