import ModelStore
import Recommender

/// One stored interaction as the trainer reads it.
public struct TrainingRow: Sendable, Hashable {
    public var user: String
    public var item: String
    /// The event type, e.g. `movie.rating`.
    public var type: String
    /// The rating for `movie.rating`, watch seconds for `movie.view`.
    public var value: Double?
    /// Seconds since the epoch.
    public var time: Int64

    public init(user: String, item: String, type: String, value: Double?, time: Int64) {
        self.user = user
        self.item = item
        self.type = type
        self.value = value
        self.time = time
    }
}

/// Hyper-parameters of a training run (the defaults are the ones chosen on MovieLens 100K validation
/// data in docs/benchmarks.md).
public struct TrainingParameters: Sendable, Hashable {
    public var alsFactors = 64
    public var alsIterations = 15
    public var alsRegularization: Float = 60
    public var alsAlpha: Float = 10
    public var ratingFactors = 64
    /// Share of each user's latest interactions held out for the offline evaluation.
    public var testFraction = 0.2
    public var k = 10
    public var seed: UInt64 = 42

    public init() {}

    public var description: [String: String] {
        [
            "als.factors": String(alsFactors), "als.iterations": String(alsIterations), "als.regularization": String(alsRegularization),
            "als.alpha": String(alsAlpha), "ratings.factors": String(ratingFactors), "evaluation.test_fraction": String(testFraction),
            "evaluation.k": String(k), "seed": String(seed),
        ]
    }
}

/// How strongly an interaction says "the user wants this item", for the implicit model. Nil: not a
/// positive signal (dislikes, impressions, low ratings).
public enum ImplicitStrength {
    public static func of(_ row: TrainingRow) -> Float? {
        switch row.type {
        case "movie.rating": (row.value ?? 0) >= 4 ? 1 : nil
        case "movie.like": 1
        case "movie.view": 0.3
        case "poll.vote": 1
        case "poll.share": 1.5
        case "poll.expand": 0.5
        default: nil
        }
    }
}

/// The result of ``ModelTraining/train(rows:parameters:)``: the production bundle (fitted on all rows) and the
/// offline metrics (fitted on the earlier part of each user's history, measured on the later part).
public struct TrainedModels: Sendable {
    public var bundle: ModelBundle
    /// `ndcg@10`, `recall@10`, `popularity.ndcg@10`, `popularity.recall@10`, `rmse` (if there are ratings),
    /// `users`, `items`, `test_users`.
    public var metrics: [String: Double]
    /// nDCG@k on the test part after each ALS iteration count in `curveIterations` (the learning curve).
    public var learningCurve: [(iterations: Int, ndcg: Double)]
}

/// Training and offline evaluation, pure: rows in, models and metrics out; deterministic for a seed.
public enum ModelTraining {
    public static func train(rows: [TrainingRow], parameters: TrainingParameters, curveIterations: [Int] = [1, 3, 5, 10, 15]) -> TrainedModels {
        var users = IDMap()
        var items = IDMap()
        var implicit: [Interaction] = []
        var ratings: [Interaction] = []
        for row in rows {
            let user = users.index(for: row.user)
            let item = items.index(for: row.item)
            if let strength = ImplicitStrength.of(row) {
                implicit.append(Interaction(user: user, item: item, value: strength, timestamp: row.time))
            }
            if row.type == "movie.rating", let value = row.value {
                ratings.append(Interaction(user: user, item: item, value: Float(value), timestamp: row.time))
            }
        }
        implicit = strongestPerPair(implicit)
        var als = ImplicitALS.Configuration()
        als.factors = parameters.alsFactors
        als.iterations = parameters.alsIterations
        als.regularization = parameters.alsRegularization
        als.alpha = parameters.alsAlpha
        als.seed = parameters.seed

        // Offline evaluation: each user's latest interactions are the test.
        let (train, test) = Splits.temporal(implicit, testFraction: parameters.testFraction)
        var relevant: [Int32: Set<Int32>] = [:]
        for interaction in test where interaction.value >= 1 { relevant[interaction.user, default: []].insert(interaction.item) }
        var seen: [Int32: Set<Int32>] = [:]
        for interaction in train { seen[interaction.user, default: []].insert(interaction.item) }
        let trainMatrix = InteractionMatrix(train, userCount: users.count, itemCount: items.count)
        func ranking(_ recommend: (Int32) -> [Int32]) -> Metrics.Ranking {
            var lists: [Int32: [Int32]] = [:]
            for user in relevant.keys { lists[user] = recommend(user) }
            return Metrics.ranking(recommendations: lists, relevant: relevant, k: parameters.k, catalogSize: items.count)
        }
        var curve: [(iterations: Int, ndcg: Double)] = []
        for iterations in curveIterations where iterations < parameters.alsIterations {
            var configuration = als
            configuration.iterations = iterations
            let model = ImplicitALS.fit(trainMatrix, configuration: configuration)
            curve.append((iterations, ranking { model.recommend(user: Int($0), k: parameters.k, excluding: seen[$0] ?? []) }.ndcg))
        }
        let evaluated = ImplicitALS.fit(trainMatrix, configuration: als)
        let alsRanking = ranking { evaluated.recommend(user: Int($0), k: parameters.k, excluding: seen[$0] ?? []) }
        curve.append((parameters.alsIterations, alsRanking.ndcg))
        let trainPopularity = Popularity(train, itemCount: items.count) { $0.value >= 1 }
        let popularityRanking = ranking { user in trainPopularity.top(parameters.k) { seen[user]?.contains(Int32($0)) ?? false } }
        var metrics: [String: Double] = [
            "ndcg@\(parameters.k)": alsRanking.ndcg, "recall@\(parameters.k)": alsRanking.recall,
            "popularity.ndcg@\(parameters.k)": popularityRanking.ndcg, "popularity.recall@\(parameters.k)": popularityRanking.recall,
            "users": Double(users.count), "items": Double(items.count), "test_users": Double(alsRanking.users),
        ]

        // The rating model, where there are ratings: RMSE on each user's latest ratings.
        var ratingModel: BiasedMF?
        if ratings.count >= 100 {
            var configuration = BiasedMF.Configuration()
            configuration.factors = parameters.ratingFactors
            configuration.seed = parameters.seed
            let (ratingTrain, ratingTest) = Splits.temporal(ratings, testFraction: parameters.testFraction)
            let (fitPart, validation) = Splits.random(ratingTrain, testFraction: 0.1, seed: parameters.seed)
            let (model, history) = BiasedMF.fit(train: fitPart, validation: validation, userCount: users.count, itemCount: items.count, configuration: configuration)
            metrics["rmse"] = model.rmse(on: ratingTest)
            // Production: all ratings, as many epochs as validation chose.
            configuration.maximumEpochs = max(1, history.bestEpoch + 1)
            ratingModel = BiasedMF.fit(train: ratings, userCount: users.count, itemCount: items.count, configuration: configuration).model
        }

        let production = ImplicitALS.fit(InteractionMatrix(implicit, userCount: users.count, itemCount: items.count), configuration: als)
        let popularity = Popularity(implicit, itemCount: items.count) { $0.value >= 1 }
        let bundle = ModelBundle(userIDs: users.ids, itemIDs: items.ids, implicitALS: production, ratings: ratingModel, popularity: popularity.scores)
        return TrainedModels(bundle: bundle, metrics: metrics, learningCurve: curve)
    }

    /// One interaction per (user, item): the strongest signal, at its latest time.
    static func strongestPerPair(_ interactions: [Interaction]) -> [Interaction] {
        var best: [Int64: Interaction] = [:]
        for interaction in interactions {
            let key = Int64(interaction.user) << 32 | Int64(interaction.item)
            if let existing = best[key], existing.value > interaction.value || (existing.value == interaction.value && existing.timestamp >= interaction.timestamp) {
                continue
            }
            best[key] = interaction
        }
        return best.values.sorted { ($0.user, $0.item) < ($1.user, $1.item) }
    }
}
