/// A training set with 10 % (seeded) held out for validation, with what model selection needs of it.
public struct ValidationSplit: Sendable {
    public let fit: [Interaction]
    public let validation: [Interaction]
    /// The fit part as a matrix.
    public let matrix: InteractionMatrix
    /// Items each user has in the fit part (excluded from their recommendations).
    public let seen: [Int32: Set<Int32>]

    public init(_ interactions: [Interaction], userCount: Int, itemCount: Int, seed: UInt64) {
        (fit, validation) = Splits.random(interactions, testFraction: 0.1, seed: seed)
        matrix = InteractionMatrix(fit, userCount: userCount, itemCount: itemCount)
        var seen: [Int32: Set<Int32>] = [:]
        for interaction in fit { seen[interaction.user, default: []].insert(interaction.item) }
        self.seen = seen
    }

    /// nDCG@10 of `recommend` on the held-out part.
    public func ndcg(_ recommend: (Int32, Set<Int32>) -> [Int32]) -> Double {
        ModelSelection.rankingScore(heldOut: validation, seen: seen, k: 10, catalogSize: matrix.itemCount, recommend: recommend).ndcg
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
