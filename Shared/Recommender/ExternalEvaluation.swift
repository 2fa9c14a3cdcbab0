/// The external-scoring contract of `trainer evaluate`: fit on a training file, then write a predicted
/// rating for every test pair and a top-k list for every test user. Pure: takes and returns text.
public struct ExternalEvaluation: Sendable {
    public struct Output: Sendable {
        /// `user<TAB>item<TAB>predicted_rating`, one row per test pair (unknown users or items included).
        public var ratings: String
        /// `user<TAB>item<TAB>score`, k rows per test user, higher is better, training items excluded.
        public var topN: String
        /// Human-readable metrics of the models and of popularity on the test file.
        public var report: String
    }

    public var k: Int
    public var seed: UInt64
    /// How the top-N model's validation split is held out of the training file: `.random` when the test
    /// file is a random share of the data, `.latest` when it is each user's latest ratings (a temporal
    /// split), so that the hyper-parameters are chosen for the question the test asks.
    public var validation: ValidationSplit.Holdout

    /// The ALS candidate of the top-N choice.
    public var alsConfiguration = ImplicitALS.Configuration.movieLens
    /// Bytes the item–item models may take; above it ALS is served (``TopNSelection``).
    public var itemItemMemoryLimit = 4 << 30

    public init(k: Int = 10, seed: UInt64 = 42, validation: ValidationSplit.Holdout? = nil) {
        self.k = k
        self.seed = seed
        self.validation = validation ?? .random(seed: seed)
    }

    public func run(train trainText: String, test testText: String) throws(DatasetError) -> Output {
        var dataset = try RatingsDataset.parse(trainText)
        let trainCount = dataset.interactions.count
        let knownUsers = dataset.users.count
        let knownItems = dataset.items.count
        try dataset.append(testText)
        let train = Array(dataset.interactions[..<trainCount])
        let test = Array(dataset.interactions[trainCount...])
        guard !train.isEmpty else { throw DatasetError(line: 0, message: "the training file has no ratings") }

        // Explicit ratings: Bayesian MF (Gibbs sampling; nothing to tune on a validation split), the best
        // single rating model of the benchmark (docs/benchmarks.md).
        var ratingConfiguration = BayesianMF.Configuration()
        ratingConfiguration.seed = seed
        let ratingModel = BayesianMF.fit(train: train, userCount: knownUsers, itemCount: knownItems, configuration: ratingConfiguration)

        // Top-N: the served model's choice (TopNSelection, shared with `trainer train`): sequence-aware EASE
        // over every training rating (positives, rating >= 4, weigh 1) or implicit ALS over the positives,
        // whichever validates better; popularity for users unknown to train.
        let selection = TopNSelection.Input(
            interactions: train, userCount: knownUsers, itemCount: knownItems, holdout: validation, isPositive: { $0.value >= 4 },
            implicitStrength: { $0.value >= 4 ? 1 : 0 }, implicitALS: alsConfiguration, itemItemMemoryLimit: itemItemMemoryLimit
        )
        let choice = TopNSelection.choose(selection)
        let topConfiguration = choice.sequenceAwareEASE
        let topModel = TopNSelection.fit(choice, on: selection)
        let popularity = Popularity(train, itemCount: knownItems) { $0.value >= 4 }
        var seen: [Int32: Set<Int32>] = [:]
        for interaction in train { seen[interaction.user, default: []].insert(interaction.item) }

        var ratings = ""
        var predictions: [Double] = []
        for interaction in test {
            let user = Int(interaction.user) < knownUsers ? Int(interaction.user) : -1
            let item = Int(interaction.item) < knownItems ? Int(interaction.item) : -1
            let predicted = ratingModel.predict(user: user, item: item)
            predictions.append(Double(predicted))
            ratings += "\(dataset.users.id(at: interaction.user))\t\(dataset.items.id(at: interaction.item))\t\(String(format4(predicted)))\n"
        }

        var topN = ""
        var modelLists: [Int32: [Int32]] = [:]
        var popularLists: [Int32: [Int32]] = [:]
        let testUsers = Array(Set(test.map(\.user))).sorted()
        for user in testUsers {
            let excluded = seen[user] ?? []
            let popular = popularity.top(k) { excluded.contains(Int32($0)) }
            popularLists[user] = popular
            // Users with no weighted history (unknown to train, or only ratings weighted 0) get popularity.
            var list: [(Int32, Float)] = topModel.recommend(user: user, k: k, excluding: excluded).map { ($0.item, $0.score) }
            if list.isEmpty { list = popular.map { ($0, popularity.scores[Int($0)]) } }
            modelLists[user] = list.map(\.0)
            for (item, score) in list {
                topN += "\(dataset.users.id(at: user))\t\(dataset.items.id(at: item))\t\(format4(score))\n"
            }
        }

        var relevant: [Int32: Set<Int32>] = [:]
        for interaction in test where interaction.value >= 4 { relevant[interaction.user, default: []].insert(interaction.item) }
        let model = Metrics.ranking(recommendations: modelLists, relevant: relevant, k: k, catalogSize: knownItems)
        let baseline = Metrics.ranking(recommendations: popularLists, relevant: relevant, k: k, catalogSize: knownItems)
        let actual = test.map { Double($0.value) }
        var report = "train: \(train.count) ratings, \(knownUsers) users, \(knownItems) items; test: \(test.count) ratings\n"
        if !test.isEmpty {
            report += "Bayesian MF (\(ratingConfiguration.factors) factors, \(ratingConfiguration.iterations) sweeps): RMSE \(format4(Float(Metrics.rmse(predicted: predictions, actual: actual)))), MAE \(format4(Float(Metrics.mae(predicted: predictions, actual: actual))))\n"
        }
        report += "top-\(k) over \(model.users) test users with a rating >= 4:\n"
        let transitions = topConfiguration.easeWeight < 1
            ? "next-item transitions (window \(topConfiguration.transitions.window), latest \(topConfiguration.transitions.recentItems), EASE share \(topConfiguration.easeWeight))"
            : "next-item transitions not used (validation chose EASE alone)"
        let modelName = choice.kind == .implicitALS
            ? "implicit ALS (\(choice.implicitALS.factors) factors, lambda \(choice.implicitALS.regularization), alpha \(choice.implicitALS.alpha))"
            : "EASE (lambda \(Int(topConfiguration.ease.regularization)), other ratings weigh \(topConfiguration.otherWeight)) + \(transitions)"
        let validationFigures = TopNKind.allCases.compactMap { kind in choice.validationNDCG[kind].map { "\(kind.rawValue) \(format4(Float($0)))" } }
        report += "  chosen on validation nDCG@10 (\(validationFigures.joined(separator: ", "))): \(choice.kind.rawValue)\n"
        report += "  \(modelName): nDCG \(format4(Float(model.ndcg))), precision \(format4(Float(model.precision))), recall \(format4(Float(model.recall))), hit rate \(format4(Float(model.hitRate))), coverage \(format4(Float(model.coverage)))\n"
        report += "  popularity: nDCG \(format4(Float(baseline.ndcg))), precision \(format4(Float(baseline.precision))), recall \(format4(Float(baseline.recall))), hit rate \(format4(Float(baseline.hitRate))), coverage \(format4(Float(baseline.coverage)))\n"
        return Output(ratings: ratings, topN: topN, report: report)
    }
}

/// Four decimals without Foundation's formatters.
func format4(_ value: Float) -> String {
    let scaled = (Double(value) * 10_000).rounded()
    let negative = scaled < 0
    let magnitude = Int64(abs(scaled))
    let whole = magnitude / 10_000
    let fraction = String(magnitude % 10_000)
    return (negative ? "-" : "") + "\(whole)." + String(repeating: "0", count: 4 - fraction.count) + fraction
}
