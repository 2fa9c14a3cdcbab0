/// A training set with 10 % held out for validation, with what model selection needs of it.
public struct ValidationSplit: Sendable {
    /// Which interactions are held out: a seeded random share (mirrors a random test split), or each
    /// user's latest (mirrors a temporal one: validation then asks what comes next, as test does).
    public enum Holdout: Sendable, Hashable {
        case random(seed: UInt64)
        case latest
    }

    public let fit: [Interaction]
    public let validation: [Interaction]
    /// The fit part as a matrix.
    public let matrix: InteractionMatrix
    /// Items each user has in the fit part (excluded from their recommendations).
    public let seen: [Int32: Set<Int32>]

    public init(_ interactions: [Interaction], userCount: Int, itemCount: Int, seed: UInt64) {
        self.init(interactions, userCount: userCount, itemCount: itemCount, holdout: .random(seed: seed))
    }

    /// `relevant` picks which held-out interactions count as hits (all of them by default; the
    /// positives when `interactions` holds every rating).
    public init(
        _ interactions: [Interaction], userCount: Int, itemCount: Int, holdout: Holdout, fraction: Double = 0.1,
        relevant: (Interaction) -> Bool = { _ in true }
    ) {
        let heldOut: [Interaction]
        switch holdout {
        case .random(let seed): (fit, heldOut) = Splits.random(interactions, testFraction: fraction, seed: seed)
        case .latest: (fit, heldOut) = Splits.temporal(interactions, testFraction: fraction)
        }
        validation = heldOut.filter(relevant)
        matrix = InteractionMatrix(fit, userCount: userCount, itemCount: itemCount)
        var seen: [Int32: Set<Int32>] = [:]
        for interaction in fit { seen[interaction.user, default: []].insert(interaction.item) }
        self.seen = seen
    }

    /// nDCG@10 of `recommend` on the held-out part.
    public func ndcg(_ recommend: (Int32, Set<Int32>) -> [Int32]) -> Double {
        ModelSelection.rankingScore(heldOut: validation, seen: seen, k: 10, catalogSize: matrix.itemCount, recommend: recommend).ndcg
    }

    /// ``ndcg(_:)`` with the users' lists computed on `threads` threads: the same lists, the same figure.
    public func ndcg(threads: Int, _ recommend: @Sendable (Int32, Set<Int32>) -> [Int32]) -> Double {
        var relevant: [Int32: Set<Int32>] = [:]
        for interaction in validation { relevant[interaction.user, default: []].insert(interaction.item) }
        let seenByUser = seen
        let lists = Metrics.lists(users: relevant.keys.sorted(), threads: threads) { user in recommend(user, seenByUser[user] ?? []) }
        return Metrics.ranking(recommendations: lists, relevant: relevant, k: 10, catalogSize: matrix.itemCount).ndcg
    }
}

/// Hyper-parameter choice on a validation split cut from the training data, never from test.
public enum ModelSelection {
    /// nDCG@k of `recommend` on held-out interactions: relevant = the held-out items of each user,
    /// excluding what the user has in `seen`.
    public static func rankingScore(
        heldOut: [Interaction], seen: [Int32: Set<Int32>], k: Int, catalogSize: Int,
        recommend: (Int32, Set<Int32>) -> [Int32]
    ) -> Metrics.Ranking {
        var relevant: [Int32: Set<Int32>] = [:]
        for interaction in heldOut { relevant[interaction.user, default: []].insert(interaction.item) }
        var recommendations: [Int32: [Int32]] = [:]
        for user in relevant.keys { recommendations[user] = recommend(user, seen[user] ?? []) }
        return Metrics.ranking(recommendations: recommendations, relevant: relevant, k: k, catalogSize: catalogSize)
    }

    /// The implicit-ALS configuration with the best validation nDCG@10 over a small grid, and that score.
    /// `positives` are the training positives; 10 % of them (seeded) are held out for validation.
    public static func implicitALS(
        positives: [Interaction], userCount: Int, itemCount: Int, base: ImplicitALS.Configuration = .init(),
        factors: [Int] = [64, 128], regularization: [Float] = [20, 60, 120], alpha: [Float] = [5, 10, 20], seed: UInt64 = 17
    ) -> (configuration: ImplicitALS.Configuration, validationNDCG: Double) {
        let split = ValidationSplit(positives, userCount: userCount, itemCount: itemCount, seed: seed)
        var best = (configuration: base, validationNDCG: -1.0)
        for f in factors {
            for reg in regularization {
                for a in alpha {
                    var candidate = base
                    candidate.factors = f
                    candidate.regularization = reg
                    candidate.alpha = a
                    let model = ImplicitALS.fit(split.matrix, configuration: candidate)
                    let score = split.ndcg { user, excluded in model.recommend(user: Int(user), k: 10, excluding: excluded) }
                    if score > best.validationNDCG { best = (candidate, score) }
                }
            }
        }
        return best
    }

    /// The EASE regularisation with the best validation nDCG@10, and that score.
    public static func ease(
        positives: [Interaction], userCount: Int, itemCount: Int, regularization: [Float] = [50, 100, 200, 400, 800], seed: UInt64 = 17
    ) -> (configuration: EASE.Configuration, validationNDCG: Double) {
        let split = ValidationSplit(positives, userCount: userCount, itemCount: itemCount, seed: seed)
        var best = (configuration: EASE.Configuration(), validationNDCG: -1.0)
        for lambda in regularization {
            var candidate = EASE.Configuration()
            candidate.regularization = lambda
            let model = EASE.fit(split.matrix, configuration: candidate)
            let score = split.ndcg { user, excluded in model.recommend(history: split.matrix.items(of: Int(user)), k: 10, excluding: excluded) }
            if score > best.validationNDCG { best = (candidate, score) }
        }
        return best
    }
}

extension ModelSelection {
    /// The biased-MF configuration with the lowest validation RMSE over a small grid (early stopping on
    /// the same validation split picks the epoch count).
    public static func biasedMF(
        train: [Interaction], validation: [Interaction], userCount: Int, itemCount: Int, base: BiasedMF.Configuration = .init(),
        learningRates: [Float] = [0.005, 0.01], regularization: [Float] = [0.04, 0.08, 0.12]
    ) -> (configuration: BiasedMF.Configuration, validationRMSE: Double, bestEpoch: Int) {
        var best = (configuration: base, validationRMSE: Double.infinity, bestEpoch: 0)
        for rate in learningRates {
            for reg in regularization {
                var candidate = base
                candidate.learningRate = rate
                candidate.regularization = reg
                let (_, history) = BiasedMF.fit(train: train, validation: validation, userCount: userCount, itemCount: itemCount, configuration: candidate)
                let rmse = history.validationRMSE[history.bestEpoch]
                if rmse < best.validationRMSE { best = (candidate, rmse, history.bestEpoch) }
            }
        }
        return best
    }
}

extension ModelSelection {
    /// The ``SequenceAwareEASE`` configuration with the best validation nDCG@10 over a small grid, and that
    /// score. `interactions` is every training interaction with its value; 10 % are held out as `holdout`
    /// says and the held-out positives are the hits. Memory: the standardised scores of every validation user
    /// are kept per transitions candidate and for the current EASE candidate, (windows × recentItems + 1) ×
    /// users × items floats: 5 × 943 × 1,682 × 4 B ≈ 32 MB on MovieLens 100K, ≈ 450 MB on MovieLens 1M.
    public static func sequenceAwareEASE(
        interactions: [Interaction], userCount: Int, itemCount: Int, holdout: ValidationSplit.Holdout,
        otherWeights: [Float] = [0, 0.1, 0.3, 0.5], regularization: [Float] = [100, 200, 400],
        windows: [Int] = [5, 20], recentItems: [Int] = [3, 10], easeWeights: [Float] = [1, 0.8, 0.67, 0.57, 0.5],
        isPositive: (Interaction) -> Bool
    ) -> (configuration: SequenceAwareEASE.Configuration, validationNDCG: Double) {
        var times = StageTimes()
        return sequenceAwareEASE(
            interactions: interactions, userCount: userCount, itemCount: itemCount, holdout: holdout, otherWeights: otherWeights,
            regularization: regularization, windows: windows, recentItems: recentItems, easeWeights: easeWeights, isPositive: isPositive, times: &times
        )
    }

    /// ``sequenceAwareEASE(interactions:userCount:itemCount:holdout:otherWeights:regularization:windows:recentItems:easeWeights:isPositive:)``,
    /// adding the wall time of each stage (`ease.`…) to `times`.
    public static func sequenceAwareEASE(
        interactions: [Interaction], userCount: Int, itemCount: Int, holdout: ValidationSplit.Holdout,
        otherWeights: [Float] = [0, 0.1, 0.3, 0.5], regularization: [Float] = [100, 200, 400],
        windows: [Int] = [5, 20], recentItems: [Int] = [3, 10], easeWeights: [Float] = [1, 0.8, 0.67, 0.57, 0.5],
        isPositive: (Interaction) -> Bool, threads: Int = 2, times: inout StageTimes
    ) -> (configuration: SequenceAwareEASE.Configuration, validationNDCG: Double) {
        let split = ValidationSplit(interactions, userCount: userCount, itemCount: itemCount, holdout: holdout, relevant: isPositive)
        let users = Array(Set(split.validation.map(\.user))).sorted()
        let ordered = NextItemTransitions.orderedHistories(split.fit)
        let n = itemCount
        // Each candidate's standardised scores, per validation user, are computed once and blended per weight
        // (an array, not a dictionary: the search order, and so the choice among ties, must not vary by run).
        var transitionScores: [(NextItemTransitions.Configuration, [Float])] = []
        let transitionsStarted = ContinuousClock.now
        for window in windows {
            var configuration = NextItemTransitions.Configuration()
            configuration.window = window
            let fitted = NextItemTransitions.fit(split.fit, itemCount: n, configuration: configuration)
            for recent in recentItems {
                var candidate = configuration
                candidate.recentItems = recent
                let scorer = NextItemTransitions(configuration: candidate, itemCount: n, weights: fitted.weights)
                transitionScores.append((candidate, standardisedScores(users: users, itemCount: n, threads: threads) { user, out in
                    scorer.scores(after: ordered[user] ?? [], into: out)
                }))
            }
        }
        times.add("ease.transitions fit and score", seconds: StageTimes.seconds(ContinuousClock.now - transitionsStarted))
        var best = (configuration: SequenceAwareEASE.Configuration(), validationNDCG: -1.0)
        for otherWeight in otherWeights {
            let weighted = SequenceAwareEASE.weightedInput(split.fit, otherWeight: otherWeight, isPositive: isPositive)
            let matrix = InteractionMatrix(weighted, userCount: userCount, itemCount: itemCount)
            for lambda in regularization {
                var easeConfiguration = EASE.Configuration()
                easeConfiguration.regularization = lambda
                let ease = times.measure("ease.fit (gram + inversion)") { EASE.fit(matrix, configuration: easeConfiguration) }
                let easeScores = times.measure("ease.score validation users") {
                    standardisedScores(users: users, itemCount: n, threads: threads) { user, out in
                        ease.scores(for: matrix.weightedHistory(of: Int(user)), into: out)
                    }
                }
                let blendsStarted = ContinuousClock.now
                defer { times.add("ease.blend and evaluate", seconds: StageTimes.seconds(ContinuousClock.now - blendsStarted)) }
                // Weight 1 (EASE alone) once, then each transition candidate with each lower weight.
                let candidates = [(NextItemTransitions.Configuration(), [Float](), Float(1))]
                    + transitionScores.flatMap { transitions, scores in easeWeights.filter { $0 < 1 }.map { (transitions, scores, $0) } }
                for (transitions, nextScores, easeWeight) in candidates {
                    let score = blendedNDCG(split: split, users: users, itemCount: n, easeScores: easeScores, nextScores: nextScores, easeWeight: easeWeight, threads: threads)
                    // Ties keep the earlier (simpler) candidate: EASE alone comes first.
                    if score > best.validationNDCG {
                        var candidate = SequenceAwareEASE.Configuration()
                        candidate.ease = easeConfiguration
                        candidate.transitions = transitions
                        candidate.otherWeight = otherWeight
                        candidate.easeWeight = easeWeight
                        best = (candidate, score)
                    }
                }
            }
        }
        return best
    }

    /// Row `index` of the result is `score`'s output for `users[index]`, as z-scores over the catalog. Users in
    /// parallel (each row its own): the same rows on any number of threads.
    static func standardisedScores(
        users: [Int32], itemCount n: Int, threads: Int = 1, score: @Sendable (Int32, UnsafeMutableBufferPointer<Float>) -> Void
    ) -> [Float] {
        var all = [Float](repeating: 0, count: users.count * n)
        all.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let rows = UncheckedMutablePointer(base)
            ParallelRanges.forEach(users.count, threads: threads) { range in
                for index in range {
                    let row = UnsafeMutableBufferPointer(start: rows.pointer + index * n, count: n)
                    score(users[index], row)
                    let (mean, scale) = ScoreBlend.standardisation(UnsafeBufferPointer(row))
                    for j in 0..<n { row[j] = (row[j] - mean) * scale }
                }
            }
        }
        return all
    }

    /// Validation nDCG@10 of `easeWeight` × EASE's standardised scores + (1 − `easeWeight`) × the transitions'
    /// (rows as ``standardisedScores(users:itemCount:threads:score:)`` makes them, one per user of `users`, the
    /// validation users sorted). The lists are made in parallel, the metric summed in user order as
    /// ``ValidationSplit/ndcg(_:)`` sums it: the same figure as one thread's.
    static func blendedNDCG(
        split: ValidationSplit, users: [Int32], itemCount n: Int, easeScores: [Float], nextScores: [Float], easeWeight: Float, threads: Int
    ) -> Double {
        var lists = [[Int32]](repeating: [], count: users.count)
        lists.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let out = UncheckedMutablePointer(base)
            ParallelRanges.forEach(users.count, threads: threads) { range in
                var blended = [Float](repeating: 0, count: n)
                for index in range {
                    let row = index * n
                    let excluded = split.seen[users[index]] ?? []
                    for j in 0..<n {
                        blended[j] = easeWeight == 1 ? easeScores[row + j] : easeWeight * easeScores[row + j] + (1 - easeWeight) * nextScores[row + j]
                    }
                    out.pointer[index] = TopK.select(blended, k: 10) { excluded.contains(Int32($0)) }.map { Int32($0.index) }
                }
            }
        }
        var recommendations: [Int32: [Int32]] = [:]
        for (index, user) in users.enumerated() { recommendations[user] = lists[index] }
        var relevant: [Int32: Set<Int32>] = [:]
        for interaction in split.validation { relevant[interaction.user, default: []].insert(interaction.item) }
        return Metrics.ranking(recommendations: recommendations, relevant: relevant, k: 10, catalogSize: n).ndcg
    }
}

extension ModelSelection {
    /// ``recentBias(_:fit:validation:shares:precisions:decays:maximumUsers:seed:)``'s sample size by default.
    public static let recentBiasMaximumUsers = 2000

    /// The ``BayesianFoldIn/RecentBias`` with the lowest fold-in RMSE on `validation` (each validation user's
    /// `fit` ratings folded in, latest last), or nil when none beats the plain fold-in. `model` must be fitted
    /// on `fit` only. Held out as the question is asked: with each user's latest ratings as validation it
    /// tells whether the latest ratings say more about the next ones; with a random share it should not.
    ///
    /// The grid costs a fold-in of every validation user per candidate (28 in all): past `maximumUsers`
    /// validation users, a seeded sample of that many users decides (their fit and validation ratings), which
    /// leaves MovieLens 100K's choice (943 users) as it was and bounds the cost at larger sizes.
    public static func recentBias(
        _ model: BayesianFoldIn, fit: [Interaction], validation: [Interaction],
        shares: [Float] = [0.1, 0.2, 0.3], precisions: [Float] = [5, 10, 20], decays: [Float] = [0, 1, 0.5],
        maximumUsers: Int = recentBiasMaximumUsers, seed: UInt64 = 17
    ) -> (recentBias: BayesianFoldIn.RecentBias?, validationRMSE: Double, withoutRMSE: Double) {
        let validationUsers = Array(Set(validation.map(\.user))).sorted()
        if validationUsers.count > maximumUsers {
            var generator = SeededRandom(seed: seed)
            var order = validationUsers
            generator.shuffle(&order)
            let sample = Set(order.prefix(maximumUsers))
            return recentBias(
                model, fit: fit.filter { sample.contains($0.user) }, validation: validation.filter { sample.contains($0.user) },
                shares: shares, precisions: precisions, decays: decays, maximumUsers: maximumUsers, seed: seed
            )
        }
        var plain = model
        plain.recentBias = nil
        let without = plain.rmse(history: fit, on: validation)
        var best: (recentBias: BayesianFoldIn.RecentBias?, validationRMSE: Double) = (nil, without)
        for decay in decays {
            for share in shares {
                for precision in precisions {
                    var candidate = model
                    candidate.recentBias = .init(share: share, precision: precision, decay: decay)
                    let rmse = candidate.rmse(history: fit, on: validation)
                    // Ties keep the simpler model (no recent bias), then the earlier candidate (no decay first).
                    if rmse < best.validationRMSE { best = (candidate.recentBias, rmse) }
                }
            }
        }
        return (best.recentBias, best.validationRMSE, without)
    }
}

extension ModelSelection {
    /// A ``PopularityCalibration`` of `model`'s fold-in predictions on `validation` (each validation user's
    /// `fit` ratings folded in), kept only if it helps out of sample: validation users are halved by id parity,
    /// each half is corrected with the calibration fitted on the other, and the pooled RMSE must beat the
    /// uncorrected one. The kept calibration is then fitted on all of validation. `counts` are the item rating
    /// counts of `fit`.
    public static func popularityCalibration(
        _ model: BayesianFoldIn, fit: [Interaction], validation: [Interaction], counts: [Int]
    ) -> (calibration: PopularityCalibration?, crossValidatedRMSE: Double, withoutRMSE: Double) {
        var uncorrected = model
        uncorrected.itemOffsets = []
        let predicted = uncorrected.predictions(history: fit, on: validation)
        let actual = validation.map(\.value)
        let itemCounts = validation.map { Int($0.item) < counts.count ? counts[Int($0.item)] : 0 }
        let range = model.ratingRange
        var squaredWithout: Double = 0
        var squaredCrossValidated: Double = 0
        for half in 0..<2 {
            let training = validation.indices.filter { Int(validation[$0].user) % 2 != half }
            let held = validation.indices.filter { Int(validation[$0].user) % 2 == half }
            let calibration = PopularityCalibration.fit(
                predicted: training.map { predicted[$0] }, actual: training.map { actual[$0] }, counts: training.map { itemCounts[$0] }
            )
            for index in held {
                let corrected = min(range.upperBound, max(range.lowerBound, predicted[index] + calibration.offset(count: itemCounts[index])))
                squaredCrossValidated += Double(corrected - actual[index]) * Double(corrected - actual[index])
                squaredWithout += Double(predicted[index] - actual[index]) * Double(predicted[index] - actual[index])
            }
        }
        let n = Double(max(1, validation.count))
        let without = (squaredWithout / n).squareRoot()
        let crossValidated = (squaredCrossValidated / n).squareRoot()
        guard crossValidated < without else { return (nil, crossValidated, without) }
        return (PopularityCalibration.fit(predicted: predicted, actual: actual, counts: itemCounts), crossValidated, without)
    }
}
