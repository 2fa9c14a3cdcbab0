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
    public var alsFactors = ImplicitALS.Configuration.movieLens.factors
    public var alsIterations = ImplicitALS.Configuration.movieLens.iterations
    public var alsRegularization = ImplicitALS.Configuration.movieLens.regularization
    public var alsAlpha = ImplicitALS.Configuration.movieLens.alpha
    public var ratingFactors = 64
    /// Gibbs sweeps of the Bayesian MF rating candidate (its first 15 % are burn-in); 0 leaves it out.
    public var bayesianSweeps = BayesianMF.Configuration().iterations
    /// Bayesian MF samples the served fold-in keeps (``BayesianFoldIn``): the artifact and each predict
    /// request grow with them.
    public var bayesianSamplesServed = 40
    /// Share of each user's latest interactions held out for the offline evaluation.
    public var testFraction = 0.2
    public var k = 10
    public var seed: UInt64 = 42
    /// Bytes the item–item top-N models (sequence-aware EASE) may take; above it ALS serves top-N
    /// (``TopNSelection/itemItemBytes(itemCount:)``).
    public var itemItemMemoryLimit = 4 << 30
    /// The question the top-N model is chosen and evaluated for: each user's latest interactions (what
    /// comes next: what a recommendation feed asks, the default) or a random share of them (filling the
    /// gaps of a history), as `trainer evaluate --validation` has it.
    public var holdout = Holdout.latest
    /// The top-N kinds that may win the choice (all by default; an operator may pin one).
    public var topNCandidates = Set(TopNKind.allCases)
    /// What changes past a size where the full procedure would pass the cost curves' 5-minute target.
    public var large = LargeData()

    /// Past `aboveRatings` ratings (MovieLens 100K has 100 000, the cost curves' 10× 1 000 000, 100× 10 000 000):
    /// - the rating model's choice (biased MF against Bayesian MF, the recent bias, the popularity calibration)
    ///   and its offline RMSE figures come from a seeded sample of users holding about `sampleRatings`
    ///   ratings (all of each sampled user's ratings, so each user's split is as without the sample), and
    ///   the recent-bias grid from `recentBiasUsers` of its validation users (2 000 below the size);
    /// - Bayesian MF's validation fit stops once its validation RMSE has settled (`settling`), and the
    ///   production fit on every rating draws as many sweeps, over the ratings grouped by user (as the
    ///   validation fit reads them; in time order the residuals are read at random, ~2 s a sweep at 10M);
    /// - where Bayesian MF wins, biased MF is not refitted on every rating (the API serves the Bayesian
    ///   fold-in; biased MF was kept only for artifacts read by an API older than it).
    /// Past `aboveInteractions` interactions, the ALS learning curve's points before the last are measured on
    /// a seeded sample of `curveUsers` test users (the last point, the served figure, on all of them).
    /// At or below these sizes, everything as before (docs/scaling.md, "Training at 100×").
    public struct LargeData: Sendable, Hashable {
        public var aboveRatings = 2_000_000
        public var sampleRatings = 1_000_000
        public var settling = BayesianMF.Settling()
        public var recentBiasUsers = 1_000
        public var aboveInteractions = 2_000_000
        public var curveUsers = 10_000
        public init() {}
    }

    public enum Holdout: String, Sendable, Hashable {
        case latest, random
    }

    public init() {}

    public var implicitALS: ImplicitALS.Configuration {
        var als = ImplicitALS.Configuration()
        als.factors = alsFactors
        als.iterations = alsIterations
        als.regularization = alsRegularization
        als.alpha = alsAlpha
        als.seed = seed
        return als
    }

    public var description: [String: String] {
        [
            "als.factors": String(alsFactors), "als.iterations": String(alsIterations), "als.regularization": String(alsRegularization),
            "als.alpha": String(alsAlpha), "ratings.factors": String(ratingFactors), "ratings.bayesian_sweeps": String(bayesianSweeps),
            "ratings.bayesian_samples_served": String(bayesianSamplesServed), "evaluation.test_fraction": String(testFraction),
            "evaluation.k": String(k), "seed": String(seed), "top_n.item_item_memory_limit_mib": String(itemItemMemoryLimit >> 20), "evaluation.holdout": holdout.rawValue, "top_n.candidates": topNCandidates.map(\.rawValue).sorted().joined(separator: ","),
        ]
    }
}

/// The result of ``ModelTraining/train(rows:parameters:)``: the production bundle (fitted on all rows) and the
/// offline metrics (fitted on the earlier part of each user's history, measured on the later part).
public struct TrainedModels: Sendable {
    public var bundle: ModelBundle
    /// `ndcg@10`, `recall@10` (the served top-N model's), `als.ndcg@10`, `validation.<kind>.ndcg@10` (each
    /// top-N candidate's validation figure), `popularity.ndcg@10`, `popularity.recall@10`, `rmse` (the served
    /// rating model's, if there are ratings) beside `biased_mf.rmse`, `bayesian_mf.rmse` and their
    /// `validation.` figures; where Bayesian MF won, its served fold-in's `bayesian_mf.fold_in.rmse` and, if
    /// the recent bias was chosen, `bayesian_mf.recent_bias.rmse`, and with the popularity calibration too,
    /// `bayesian_mf.calibrated.rmse` (with `validation.` figures, the calibration's cross-validated); `users`,
    /// `items`, `test_users`.
    public var metrics: [String: Double]
    /// What the top-N choice decided: `top_n.kind` and the chosen model's hyper-parameters; `ratings.kind`
    /// and, when chosen, `ratings.recent_bias.share`, `.precision` and `.decay`,
    /// `ratings.popularity_calibration.intercept` and `.slope`.
    public var chosen: [String: String]
    /// nDCG@k on the test part after each ALS iteration count in `curveIterations` (the learning curve).
    public var learningCurve: [(iterations: Int, ndcg: Double)]
    /// Wall time of each stage of ``ModelTraining/train(rows:parameters:curveIterations:)`` (what a run's
    /// report and log show, and what the cost curves break down).
    public var stageTimes = StageTimes()
}

/// Training and offline evaluation, pure: rows in, models and metrics out; deterministic for a seed.
///
/// The protocol is the one serving answers: each user's latest `testFraction` of interactions is the test,
/// the top-N model is chosen on a validation split held out the same way (``TopNSelection``, shared with
/// `trainer evaluate`), and everything a user interacted with in training is excluded from their list, as
/// the API excludes it.
public enum ModelTraining {
    public static func train(rows: [TrainingRow], parameters: TrainingParameters, curveIterations: [Int] = [1, 3, 5, 10, 15]) -> TrainedModels {
        var times = StageTimes()
        let indexingStarted = ContinuousClock.now
        var users = IDMap()
        var items = IDMap()
        // Every interaction that tells something of a user's taste, valued at its implicit strength (0: seen,
        // not a positive: a dislike, a low rating); impressions tell nothing.
        var interactions: [Interaction] = []
        var ratings: [Interaction] = []
        for row in rows where ImplicitStrength.isInteraction(row.type) {
            let user = users.index(for: row.user)
            let item = items.index(for: row.item)
            interactions.append(Interaction(user: user, item: item, value: ImplicitStrength.of(type: row.type, value: row.value) ?? 0, timestamp: row.time))
            if row.type == "movie.rating", let value = row.value {
                ratings.append(Interaction(user: user, item: item, value: Float(value), timestamp: row.time))
            }
        }
        interactions = strongestPerPair(interactions)
        times.add("index rows", seconds: StageTimes.seconds(ContinuousClock.now - indexingStarted))
        let als = parameters.implicitALS
        let validation: ValidationSplit.Holdout = parameters.holdout == .latest ? .latest : .random(seed: parameters.seed)
        func input(_ interactions: [Interaction]) -> TopNSelection.Input {
            var input = TopNSelection.Input(
                interactions: interactions, userCount: users.count, itemCount: items.count, holdout: validation, isPositive: { $0.value >= 1 },
                implicitStrength: { $0.value }, implicitALS: als, itemItemMemoryLimit: parameters.itemItemMemoryLimit
            )
            input.candidates = parameters.topNCandidates
            return input
        }

        // Offline evaluation: each user's latest interactions (or a random share) are the test, their
        // positives the hits.
        let splitStarted = ContinuousClock.now
        let (train, test) = parameters.holdout == .latest
            ? Splits.temporal(interactions, testFraction: parameters.testFraction)
            : Splits.random(interactions, testFraction: parameters.testFraction, seed: parameters.seed)
        var relevant: [Int32: Set<Int32>] = [:]
        for interaction in test where interaction.value >= 1 { relevant[interaction.user, default: []].insert(interaction.item) }
        var seenInTrain: [Int32: Set<Int32>] = [:]
        for interaction in train { seenInTrain[interaction.user, default: []].insert(interaction.item) }
        let seen = seenInTrain
        let testUsers = relevant.keys.sorted()
        times.add("test split", seconds: StageTimes.seconds(ContinuousClock.now - splitStarted))
        func ranking(users: [Int32]? = nil, _ recommend: @Sendable (Int32) -> [Int32]) -> Metrics.Ranking {
            let users = users ?? testUsers
            let lists = Metrics.lists(users: users, threads: parameters.implicitALS.threads, recommend)
            let asked = users.count == testUsers.count ? relevant : relevant.filter { lists[$0.key] != nil }
            return Metrics.ranking(recommendations: lists, relevant: asked, k: parameters.k, catalogSize: items.count)
        }
        // Past the large size the learning curve's earlier points are measured on a seeded sample of test users.
        var curveUsers = testUsers
        if interactions.count > parameters.large.aboveInteractions && testUsers.count > parameters.large.curveUsers {
            curveUsers = Self.sample(testUsers, count: parameters.large.curveUsers, seed: parameters.seed)
        }
        let trainInput = input(train)
        var choiceTimes = StageTimes()
        let choice = TopNSelection.choose(trainInput, times: &choiceTimes)
        times.add(choiceTimes, prefix: "top-n choice: ")
        let evaluated = times.measure("test: fit chosen top-n") { TopNSelection.fit(choice, on: trainInput) }
        let topRanking = times.measure("test: evaluate chosen top-n") {
            ranking { user in evaluated.recommend(user: user, k: parameters.k, excluding: seen[user] ?? []).map(\.item) }
        }
        let curveStarted = ContinuousClock.now

        // ALS's learning curve (and its figure beside the served model's).
        let alsMatrix = InteractionMatrix(trainInput.alsInput(train), userCount: users.count, itemCount: items.count)
        // One fit gives every point (the model after i iterations is what a fit of i iterations returns); where
        // ALS is the served model, its full fit is `evaluated`, so this one stops at the curve's last point.
        let points = curveIterations.filter { $0 < parameters.alsIterations }
        var curveNDCG: [Int: Double] = [:]
        func scoreCurve(_ iterations: Int, _ model: ImplicitALS) {
            curveNDCG[iterations] = ranking(users: curveUsers) { model.recommend(user: Int($0), k: parameters.k, excluding: seen[$0] ?? []) }.ndcg
        }
        let alsRanking: Metrics.Ranking
        if case .implicitALS = evaluated {
            alsRanking = topRanking
            if let last = points.max() {
                var configuration = als
                configuration.iterations = last
                let model = ImplicitALS.fit(alsMatrix, configuration: configuration, observing: Set(points), scoreCurve)
                scoreCurve(last, model)
            }
        } else {
            let model = ImplicitALS.fit(alsMatrix, configuration: als, observing: Set(points), scoreCurve)
            alsRanking = ranking { model.recommend(user: Int($0), k: parameters.k, excluding: seen[$0] ?? []) }
        }
        var curve: [(iterations: Int, ndcg: Double)] = points.map { ($0, curveNDCG[$0]!) }
        curve.append((parameters.alsIterations, alsRanking.ndcg))
        times.add("test: als learning curve", seconds: StageTimes.seconds(ContinuousClock.now - curveStarted))
        let trainPopularity = Popularity(train, itemCount: items.count) { $0.value >= 1 }
        let popularityRanking = ranking { user in trainPopularity.top(parameters.k) { seen[user]?.contains(Int32($0)) ?? false } }
        var metrics: [String: Double] = [
            "ndcg@\(parameters.k)": topRanking.ndcg, "recall@\(parameters.k)": topRanking.recall, "als.ndcg@\(parameters.k)": alsRanking.ndcg,
            "popularity.ndcg@\(parameters.k)": popularityRanking.ndcg, "popularity.recall@\(parameters.k)": popularityRanking.recall,
            "users": Double(users.count), "items": Double(items.count), "test_users": Double(topRanking.users),
        ]
        if curveUsers.count < testUsers.count { metrics["learning_curve.sample_users"] = Double(curveUsers.count) }
        for (kind, score) in choice.validationNDCG { metrics["validation.\(kind.rawValue).ndcg@10"] = score }
        var chosen = ["top_n.kind": choice.kind.rawValue]
        if choice.kind == .sequenceAwareEASE {
            let configuration = choice.sequenceAwareEASE
            chosen["ease.regularization"] = String(configuration.ease.regularization)
            chosen["ease.other_weight"] = String(configuration.otherWeight)
            chosen["ease.share"] = String(configuration.easeWeight)
            if configuration.easeWeight < 1 {
                chosen["transitions.window"] = String(configuration.transitions.window)
                chosen["transitions.recent_items"] = String(configuration.transitions.recentItems)
            }
        }
        for (kind, reason) in choice.skipped { chosen["top_n.skipped.\(kind.rawValue)"] = reason }

        // The rating model, where there are ratings: biased MF or Bayesian MF, whichever predicts a validation
        // share of the earlier ratings better; RMSE on each user's latest ratings.
        var ratingModel: BiasedMF?
        var bayesianRatings: BayesianFoldIn?
        if ratings.count >= 100 {
            var configuration = BiasedMF.Configuration()
            configuration.factors = parameters.ratingFactors
            configuration.seed = parameters.seed
            let large = ratings.count > parameters.large.aboveRatings
            var choiceRatings = ratings
            if large {
                choiceRatings = times.measure("ratings: choice sample") {
                    Self.userSample(ratings, userCount: users.count, ratings: parameters.large.sampleRatings, seed: parameters.seed)
                }
                metrics["ratings.choice_sample.ratings"] = Double(choiceRatings.count)
                metrics["ratings.choice_sample.users"] = Double(Set(choiceRatings.map(\.user)).count)
            }
            let (ratingTrain, ratingTest) = Splits.temporal(choiceRatings, testFraction: parameters.testFraction)
            // Validation held out as the question is asked: each user's latest ratings of the training part
            // (`training.holdout` latest), else a seeded random share.
            let (fitPart, validation) = parameters.holdout == .latest
                ? Splits.temporal(ratingTrain, testFraction: 0.1)
                : Splits.random(ratingTrain, testFraction: 0.1, seed: parameters.seed)
            let (model, history) = times.measure("ratings: biased mf fit (validation)") {
                BiasedMF.fit(train: fitPart, validation: validation, userCount: users.count, itemCount: items.count, configuration: configuration)
            }
            metrics["biased_mf.rmse"] = model.rmse(on: ratingTest)
            metrics["validation.biased_mf.rmse"] = model.rmse(on: validation)
            var bayesian = BayesianMF.Configuration()
            bayesian.iterations = parameters.bayesianSweeps
            bayesian.burnIn = parameters.bayesianSweeps * 15 / 100
            bayesian.seed = parameters.seed
            if large { bayesian.settling = parameters.large.settling }
            var bayesianWins = false
            var recentBias: BayesianFoldIn.RecentBias?
            var calibration: PopularityCalibration?
            if parameters.bayesianSweeps > 0 {
                let candidate = times.measure("ratings: bayesian mf fit (validation)") {
                    BayesianMF.fit(train: fitPart, userCount: users.count, itemCount: items.count, configuration: bayesian, validation: validation)
                }
                // How the validation RMSE moved with the sweeps (what the settling rule reads), and the sweeps drawn.
                chosen["ratings.bayesian_validation_rmse_by_sweeps"] = candidate.validationTrace
                    .map { "\($0.sweeps):\(($0.rmse * 100_000).rounded() / 100_000)" }.joined(separator: " ")
                chosen["ratings.bayesian_sweeps"] = String(candidate.sweeps)
                if large { bayesian.iterations = candidate.sweeps }
                times.measure("ratings: bayesian mf evaluate") {
                    metrics["bayesian_mf.rmse"] = candidate.rmse(on: ratingTest)
                    metrics["validation.bayesian_mf.rmse"] = candidate.rmse(on: validation)
                }
                bayesianWins = metrics["validation.bayesian_mf.rmse"]! < metrics["validation.biased_mf.rmse"]!
                if bayesianWins {
                    // What the API serves is the fold-in of a user's ratings: whether their latest ratings
                    // carry a bias of their own is chosen on the same validation split.
                    var served = BayesianFoldIn(candidate, keeping: parameters.bayesianSamplesServed)
                    let choice = times.measure("ratings: recent-bias choice") {
                        ModelSelection.recentBias(served, fit: fitPart, validation: validation, maximumUsers: large ? parameters.large.recentBiasUsers : ModelSelection.recentBiasMaximumUsers)
                    }
                    recentBias = choice.recentBias
                    metrics["validation.bayesian_mf.fold_in.rmse"] = choice.withoutRMSE
                    metrics["validation.bayesian_mf.recent_bias.rmse"] = choice.validationRMSE
                    served.recentBias = recentBias
                    // Then whether a correction by the item's rating count helps (out of sample, within validation).
                    let fitCounts = PopularityCalibration.counts(fitPart, itemCount: items.count)
                    let calibrationChoice = times.measure("ratings: popularity calibration choice") {
                        ModelSelection.popularityCalibration(served, fit: fitPart, validation: validation, counts: fitCounts)
                    }
                    let foldInTestStarted = ContinuousClock.now
                    defer { times.add("ratings: fold-in test rmse", seconds: StageTimes.seconds(ContinuousClock.now - foldInTestStarted)) }
                    calibration = calibrationChoice.calibration
                    metrics["validation.bayesian_mf.calibrated.rmse"] = calibrationChoice.crossValidatedRMSE
                    // On the test part, each user's training ratings folded in, as the API would (the item counts
                    // those of what the model was fitted on).
                    var plain = served
                    plain.recentBias = nil
                    metrics["bayesian_mf.fold_in.rmse"] = plain.rmse(history: ratingTrain, on: ratingTest)
                    if let recentBias {
                        metrics["bayesian_mf.recent_bias.rmse"] = served.rmse(history: ratingTrain, on: ratingTest)
                        chosen["ratings.recent_bias.share"] = String(recentBias.share)
                        chosen["ratings.recent_bias.precision"] = String(recentBias.precision)
                        chosen["ratings.recent_bias.decay"] = String(recentBias.decay)
                    }
                    if let calibration {
                        served.itemOffsets = calibration.itemOffsets(counts: fitCounts)
                        metrics["bayesian_mf.calibrated.rmse"] = served.rmse(history: ratingTrain, on: ratingTest)
                        chosen["ratings.popularity_calibration.intercept"] = String(calibration.intercept)
                        chosen["ratings.popularity_calibration.slope"] = String(calibration.slope)
                    }
                }
            }
            chosen["ratings.kind"] = bayesianWins ? "bayesian-mf" : "biased-mf"
            metrics["rmse"] = bayesianWins ? metrics["bayesian_mf.rmse"] : metrics["biased_mf.rmse"]
            // Production: all ratings; biased MF as many epochs as validation chose (up to the large size it stays
            // in the bundle either way, for artifacts read by an API that predates the Bayesian fold-in).
            configuration.maximumEpochs = max(1, history.bestEpoch + 1)
            if !(large && bayesianWins) {
                ratingModel = times.measure("final: biased mf fit") {
                    BiasedMF.fit(train: ratings, userCount: users.count, itemCount: items.count, configuration: configuration).model
                }
            }
            if bayesianWins {
                // Past the large size, as many sweeps as the validation fit drew before it settled.
                bayesian.settling = nil
                let production = times.measure("final: bayesian mf fit") {
                    let ordered = large ? ratings.sorted { ($0.user, $0.timestamp, $0.item, $0.value) < ($1.user, $1.timestamp, $1.item, $1.value) } : ratings
                    return BayesianMF.fit(train: ordered, userCount: users.count, itemCount: items.count, configuration: bayesian)
                }
                bayesianRatings = BayesianFoldIn(production, keeping: parameters.bayesianSamplesServed)
                bayesianRatings?.recentBias = recentBias
                if let calibration {
                    bayesianRatings?.itemOffsets = calibration.itemOffsets(counts: PopularityCalibration.counts(ratings, itemCount: items.count))
                }
            }
        }

        // Production: the chosen kind on everything (ALS too: fold-in and reasons use its factors).
        let fullInput = input(interactions)
        let production = times.measure("final: top-n fit") { TopNSelection.fit(choice, on: fullInput) }
        var sequenceAwareEASE: SequenceAwareEASE?
        let productionALS: ImplicitALS
        switch production {
        case .implicitALS(let model): productionALS = model
        case .sequenceAwareEASE(let model):
            sequenceAwareEASE = model
            productionALS = times.measure("final: als fit (fold-in and reasons)") {
                ImplicitALS.fit(InteractionMatrix(fullInput.alsInput(interactions), userCount: users.count, itemCount: items.count), configuration: als)
            }
        }
        let bundle = times.measure("final: popularity, histories, bundle") {
            let popularity = Popularity(interactions, itemCount: items.count) { $0.value >= 1 }
            let histories = UserHistories(interactions, userCount: users.count, weight: TopNSelection.historyWeight(choice, input: fullInput))
            return ModelBundle(
                userIDs: users.ids, itemIDs: items.ids, implicitALS: productionALS, ratings: ratingModel, popularity: popularity.scores,
                histories: histories, sequenceAwareEASE: sequenceAwareEASE, bayesianRatings: bayesianRatings
            )
        }
        return TrainedModels(bundle: bundle, metrics: metrics, chosen: chosen, learningCurve: curve, stageTimes: times)
    }

    /// `count` of `users`, a seeded sample, in their order.
    static func sample(_ users: [Int32], count: Int, seed: UInt64) -> [Int32] {
        var order = Array(users.indices)
        var generator = SeededRandom(seed: seed)
        generator.shuffle(&order)
        return order.prefix(count).sorted().map { users[$0] }
    }

    /// Every interaction of a seeded sample of users, drawn in a seeded order until they hold at least `ratings`
    /// interactions.
    static func userSample(_ interactions: [Interaction], userCount: Int, ratings target: Int, seed: UInt64) -> [Interaction] {
        var perUser = [Int](repeating: 0, count: userCount)
        for interaction in interactions { perUser[Int(interaction.user)] += 1 }
        var order = Array(0..<userCount)
        var generator = SeededRandom(seed: seed)
        generator.shuffle(&order)
        var kept = [Bool](repeating: false, count: userCount)
        var total = 0
        for user in order where perUser[user] > 0 {
            guard total < target else { break }
            kept[user] = true
            total += perUser[user]
        }
        return interactions.filter { kept[Int($0.user)] }
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
