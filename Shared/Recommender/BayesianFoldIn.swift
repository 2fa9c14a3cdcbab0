#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Predicted ratings of Bayesian MF (``BayesianMF``) for someone the model was not trained on, from the
/// ratings they give: what `POST /v1/predict` serves.
///
/// In each kept Gibbs sample, the new user's bias and factors have a Gaussian posterior given that
/// sample's item parameters, noise precision and user priors; its mean is a (k+1)-dimensional ridge
/// solve. A prediction averages, over the samples, the sample's prediction with that mean (each clipped to
/// the rating scale, as ``BayesianMF/predict(user:item:)`` does): the posterior-mean fold-in. Only the item
/// side of a sample is kept, and only `keeping` samples spread evenly over the chain, which bounds the
/// artifact and the per-request cost.
///
/// With a ``RecentBias``, the ratings are read in the order given, latest last, and the latest share of
/// them gets a bias of its own beside the user's bias: what the user rates next is predicted with both.
public struct BayesianFoldIn: Sendable {
    /// A user's current drift (Koren 2009, "Collaborative filtering with temporal dynamics": the
    /// session-specific user bias b_{u,t} of timeSVD++'s baseline, here for the latest session only): the
    /// latest `share` of a user's ratings (at least one when the share is positive) share an extra bias with
    /// prior N(0, 1 / `precision`), solved jointly with the user's bias and factors in every sample; a
    /// prediction adds it, since what comes next is nearest the latest ratings. On MovieLens 100K a user's
    /// latest ratings run below their earlier ones in a way the item parameters do not explain, and the
    /// per-user temporal split asks exactly for what comes after them (docs/benchmarks.md, issue 18). The
    /// trainer chooses `share` and `precision` on a validation split of each user's latest ratings
    /// (``ModelSelection/recentBias(_:fit:validation:shares:precisions:)``), or leaves it out.
    ///
    /// `decay`, when positive, also weighs each rating's evidence by exp(−age / (decay × count)), age = how
    /// many ratings came after it: older ratings say less about today's taste (the time-decay weights of
    /// Koren's neighbourhood models); 0 weighs every rating alike.
    public struct RecentBias: Sendable, Hashable {
        public var share: Float
        public var precision: Float
        public var decay: Float

        public init(share: Float, precision: Float, decay: Float = 0) {
            self.share = share
            self.precision = precision
            self.decay = decay
        }

        /// The evidence weight of the rating at `position` (0 = earliest) of `count`.
        public func weight(position: Int, of count: Int) -> Double {
            guard decay > 0, count > 0 else { return 1 }
            return exp(-Double(count - 1 - position) / (Double(decay) * Double(count)))
        }

        /// How many of `count` ratings (the latest) share the recent bias.
        public func recentCount(of count: Int) -> Int {
            guard share > 0, count > 0 else { return 0 }
            return min(count, max(1, Int((Double(count) * Double(share)).rounded())))
        }
    }

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
    /// Nil: every rating weighs alike and their order does not matter.
    public var recentBias: RecentBias?
    /// Added to each known item's prediction (then clipped to the scale): a ``PopularityCalibration`` of the
    /// item's training count, fitted on validation residuals. Empty: none.
    public var itemOffsets: [Float] = []
    /// Threads folding in users for ``predictions(history:on:)`` (offline evaluation only; a request folds in one
    /// user on its own thread).
    public var threads = 2

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
        priorPrecisions: [Float], itemBiases: [Float], itemFactors: [Float], knownItems: [Float], recentBias: RecentBias? = nil,
        itemOffsets: [Float] = []
    ) {
        let samples = globalBiases.count
        guard itemOffsets.isEmpty || itemOffsets.count == itemCount else { return nil }
        if let recentBias, !(recentBias.share >= 0 && recentBias.share <= 1 && recentBias.precision > 0 && recentBias.decay >= 0) { return nil }
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
        self.recentBias = recentBias
        self.itemOffsets = itemOffsets
    }

    /// A folded-in user: per sample, the posterior mean of [bias, factors…] (then the recent bias, with a
    /// ``RecentBias``).
    public struct FoldedUser: Sendable {
        public var parameters: [Float]
    }

    /// Unknowns per sample: bias, factors, and the recent bias if any.
    var parametersPerSample: Int { factors + 1 + (recentBias == nil ? 0 : 1) }

    /// `ratings` in the order the user gave them, latest last (the order matters only with a ``RecentBias``).
    public func foldIn(_ ratings: [(item: Int, rating: Float)]) -> FoldedUser {
        let known = ratings.filter { $0.item >= 0 && $0.item < itemCount && knownItems[$0.item] > 0 }
        // Indices from `recentStart` on are the latest ratings, which carry the recent bias (feature n - 1).
        let recentStart = known.count - (recentBias?.recentCount(of: known.count) ?? 0)
        let n = parametersPerSample
        var parameters = [Float](repeating: 0, count: sampleCount * n)
        var a = [Double](repeating: 0, count: n * n)
        var b = [Double](repeating: 0, count: n)
        var features = [Double](repeating: 1, count: n)
        // Evidence weights by position: the same for every sample (exp per rating once, not once per sample).
        let weights = known.indices.map { recentBias?.weight(position: $0, of: known.count) ?? 1 }
        for sample in 0..<sampleCount {
            for index in a.indices { a[index] = 0 }
            let alpha = Double(noisePrecisions[sample])
            let priors = factors + 1
            for row in 0..<priors {
                let precision = Double(priorPrecisions[sample * priors + row])
                a[row * n + row] = precision
                b[row] = precision * Double(priorMeans[sample * priors + row])
            }
            if let recentBias {
                a[priors * n + priors] = Double(recentBias.precision)
                b[priors] = 0
            }
            let itemBase = sample * itemCount
            let hasRecentBias = recentBias != nil
            let globalBias = globalBiases[sample]
            // The normal equations' sums, through raw pointers: this loop is most of a fold-in, and of the
            // trainer's recent-bias search (the arithmetic and its order are the checked loop's).
            a.withUnsafeMutableBufferPointer { a in
                b.withUnsafeMutableBufferPointer { b in
                    features.withUnsafeMutableBufferPointer { features in
                        itemFactors.withUnsafeBufferPointer { itemFactors in
                            itemBiases.withUnsafeBufferPointer { itemBiases in
                                for (position, (item, rating)) in known.enumerated() {
                                    let factorBase = (itemBase + item) * factors
                                    for f in 0..<factors { features[f + 1] = Double(itemFactors[factorBase + f]) }
                                    if hasRecentBias { features[priors] = position >= recentStart ? 1 : 0 }
                                    let weight = weights[position]
                                    let target = weight * alpha * Double(rating - globalBias - itemBiases[itemBase + item])
                                    for row in 0..<n {
                                        b[row] += features[row] * target
                                        let scaled = weight * alpha * features[row]
                                        let aRow = row * n
                                        for column in 0...row { a[aRow + column] += scaled * features[column] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let mean = DenseSolver.choleskySolve(&a, b, n: n)
            for row in 0..<n { parameters[sample * n + row] = Float(mean[row]) }
        }
        return FoldedUser(parameters: parameters)
    }

    /// The predicted rating of `item` (an index; an unknown item gets the user's bias only).
    public func predict(_ user: FoldedUser, item: Int) -> Float {
        let n = parametersPerSample
        let itemKnown = item >= 0 && item < itemCount && knownItems[item] > 0
        var total: Double = 0
        for sample in 0..<sampleCount {
            var value = globalBiases[sample] + user.parameters[sample * n]
            if recentBias != nil { value += user.parameters[sample * n + factors + 1] }
            if itemKnown {
                let itemBase = sample * itemCount + item
                value += itemBiases[itemBase]
                let factorBase = itemBase * factors
                for f in 0..<factors { value += itemFactors[factorBase + f] * user.parameters[sample * n + f + 1] }
            }
            total += Double(min(ratingRange.upperBound, max(ratingRange.lowerBound, value)))
        }
        let average = Float(total / Double(sampleCount))
        guard itemKnown, !itemOffsets.isEmpty else { return average }
        return min(ratingRange.upperBound, max(ratingRange.lowerBound, average + itemOffsets[item]))
    }
}

extension BayesianFoldIn {
    /// RMSE of the fold-in on `heldOut`: each held-out user's `history` ratings (any order: they are sorted
    /// by time, then item, latest last, as `POST /v1/predict` bodies list them) folded in, their held-out
    /// items predicted. What the API serves, measured offline.
    public func rmse(history: [Interaction], on heldOut: [Interaction]) -> Double {
        let predicted = predictions(history: history, on: heldOut)
        var squared: Double = 0
        for (prediction, interaction) in zip(predicted, heldOut) {
            let error = Double(prediction - interaction.value)
            squared += error * error
        }
        return (squared / Double(max(1, heldOut.count))).squareRoot()
    }

    /// The fold-in's prediction of each of `heldOut` (in its order), as ``rmse(history:on:)`` makes them.
    public func predictions(history: [Interaction], on heldOut: [Interaction]) -> [Float] {
        var histories: [Int32: [Interaction]] = [:]
        for interaction in history { histories[interaction.user, default: []].append(interaction) }
        var asked: [Int32: [Int]] = [:]
        for (index, interaction) in heldOut.enumerated() { asked[interaction.user, default: []].append(index) }
        var predicted = [Float](repeating: 0, count: heldOut.count)
        // Users in parallel (the fold-ins of a recent-bias search are most of a large training run): each
        // writes its own held-out indices, so the result is the same on any number of threads.
        let users = asked.keys.sorted()
        let model = self
        let userHistories = histories
        let askedIndices = asked
        predicted.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let output = UncheckedPointer(base)
            ParallelRanges.forEach(users.count, threads: threads) { range in
                for user in users[range] {
                    let ordered = (userHistories[user] ?? []).sorted { ($0.timestamp, $0.item) < ($1.timestamp, $1.item) }
                    let folded = model.foldIn(ordered.map { (item: Int($0.item), rating: $0.value) })
                    for index in askedIndices[user]! { output.pointer[index] = model.predict(folded, item: Int(heldOut[index].item)) }
                }
            }
        }
        return predicted
    }
}
