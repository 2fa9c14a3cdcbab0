import Foundation
import Recommender
import Testing

@Suite("Recommender core building blocks")
struct RecommenderCoreTests {
    @Test("the seeded generator repeats exactly for a seed and differs across seeds")
    func seededRandom() {
        var a = SeededRandom(seed: 7)
        var b = SeededRandom(seed: 7)
        var c = SeededRandom(seed: 8)
        let first = (0..<100).map { _ in a.next() }
        #expect(first == (0..<100).map { _ in b.next() })
        #expect(first != (0..<100).map { _ in c.next() })
        var unit = SeededRandom(seed: 1)
        let samples = (0..<20_000).map { _ in unit.nextGaussian() }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }

    @Test("top-k selection equals a full stable sort, with exclusions and ties, on random inputs")
    func topKMatchesSort() {
        var generator = SeededRandom(seed: 3)
        for trial in 0..<200 {
            let count = Int(generator.next() % 300) + 1
            // Few distinct values, so ties are common.
            let scores = (0..<count).map { _ in Float(generator.next() % 20) / 4 }
            let excluded = Set((0..<count).filter { _ in generator.next() % 5 == 0 })
            let k = Int(generator.next() % 40)
            let expected = scores.enumerated()
                .filter { !excluded.contains($0.offset) }
                .sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
                .prefix(k).map(\.offset)
            let selected = TopK.select(scores, k: k) { excluded.contains($0) }.map(\.index)
            #expect(selected == Array(expected), "trial \(trial)")
        }
    }

    @Test("RMSE and MAE on a hand-made case")
    func errorMetrics() {
        #expect(abs(Metrics.rmse(predicted: [3, 4, 5], actual: [4, 4, 3]) - (5.0 / 3).squareRoot()) < 1e-12)
        #expect(abs(Metrics.mae(predicted: [3, 4, 5], actual: [4, 4, 3]) - 1) < 1e-12)
    }

    @Test("ranking metrics on hand-made cases")
    func rankingMetrics() {
        // User 1: relevant {10, 20}; list [10, 30, 20]: hits at ranks 1 and 3.
        // DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3); precision@3 = 2/3; recall = 1.
        // User 2: relevant {40}; list [50, 60, 70]: no hit. User 3: no relevant item, not counted.
        let result = Metrics.ranking(
            recommendations: [1: [10, 30, 20], 2: [50, 60, 70], 3: [10]],
            relevant: [1: [10, 20], 2: [40], 3: []], k: 3, catalogSize: 10
        )
        let idealUser1 = 1 + 1 / (log(3.0) / log(2.0))
        let ndcgUser1 = 1.5 / idealUser1
        #expect(result.users == 2)
        #expect(abs(result.precision - (2.0 / 3 + 0) / 2) < 1e-12)
        #expect(abs(result.recall - (1 + 0) / 2) < 1e-12)
        #expect(abs(result.ndcg - ndcgUser1 / 2) < 1e-12)
        #expect(result.hitRate == 0.5)
        #expect(abs(result.coverage - 6.0 / 10) < 1e-12)  // 10, 30, 20, 50, 60, 70
        // Only the first k of a longer list count, and a perfect list scores 1.
        let perfect = Metrics.ranking(recommendations: [1: [5, 6, 7, 8]], relevant: [1: [5, 6]], k: 2, catalogSize: 8)
        #expect(perfect.ndcg == 1 && perfect.precision == 1 && perfect.recall == 1)
    }

    @Test("random split: exact share, disjoint, deterministic for the seed")
    func randomSplit() {
        let data = (0..<1000).map { Interaction(user: Int32($0 % 50), item: Int32($0), value: 3) }
        let (train, test) = Splits.random(data, testFraction: 0.2, seed: 9)
        #expect(test.count == 200 && train.count == 800)
        #expect(Set(train.map(\.item)).isDisjoint(with: test.map(\.item)))
        #expect(Splits.random(data, testFraction: 0.2, seed: 9).test == test)
        #expect(Splits.random(data, testFraction: 0.2, seed: 10).test != test)
    }

    @Test("temporal split: each user's latest interactions go to test; a single interaction stays in train")
    func temporalSplit() {
        var data = (0..<10).map { Interaction(user: 0, item: Int32($0), value: 4, timestamp: Int64(100 - $0)) }
        data.append(Interaction(user: 1, item: 0, value: 4, timestamp: 5))
        let (train, test) = Splits.temporal(data, testFraction: 0.2)
        #expect(Set(test.map(\.item)) == [0, 1])  // timestamps 100 and 99: the latest two of ten
        #expect(test.allSatisfy { $0.user == 0 })
        #expect(train.contains { $0.user == 1 })
        #expect(train.count + test.count == data.count)
    }

    @Test("the interaction matrix holds both orientations; a repeated pair keeps its last value")
    func interactionMatrix() {
        let matrix = InteractionMatrix([
            Interaction(user: 1, item: 2, value: 3), Interaction(user: 0, item: 1, value: 5),
            Interaction(user: 1, item: 0, value: 1), Interaction(user: 1, item: 2, value: 4),
        ], userCount: 3, itemCount: 3)
        #expect(matrix.count == 3)
        #expect(Array(matrix.items(of: 1)) == [0, 2] && Array(matrix.values(of: 1)) == [1, 4])
        #expect(Array(matrix.items(of: 2)).isEmpty)
        #expect(Array(matrix.users(of: 2)) == [1] && Array(matrix.users(of: 1)) == [0])
    }

    @Test("popularity counts positives and decays with age")
    func popularity() {
        let data = [
            Interaction(user: 0, item: 0, value: 5, timestamp: 1000), Interaction(user: 1, item: 0, value: 2, timestamp: 1000),
            Interaction(user: 1, item: 1, value: 4, timestamp: 0), Interaction(user: 2, item: 1, value: 4, timestamp: 0),
            Interaction(user: 2, item: 2, value: 4, timestamp: 1000),
        ]
        let counts = Popularity(data, itemCount: 3) { $0.value >= 4 }
        #expect(counts.scores == [1, 2, 1])
        #expect(counts.top(2) == [1, 0])
        #expect(counts.top(2) { $0 == 1 } == [0, 2])
        let decayed = Popularity(data, itemCount: 3, isPositive: { $0.value >= 4 }, halfLife: 1000, now: 1000)
        #expect(decayed.scores == [1, 1, 1])  // two interactions one half-life old count as one new one
    }

    @Test("rating files: tab, '::', CSV with header; a bad line is an error with its number")
    func parsing() throws {
        let tab = try RatingsDataset.parse("user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t4\t1\n")
        #expect(tab.interactions.count == 3 && tab.users.count == 2 && tab.items.count == 2)
        #expect(tab.interactions[2] == Interaction(user: 0, item: 1, value: 4, timestamp: 1))
        let dat = try RatingsDataset.parse("1::1193::5::978300760\n1::661::3::978302109\n")
        #expect(dat.interactions.map(\.value) == [5, 3] && dat.items.id(at: 1) == "661")
        let csv = try RatingsDataset.parse("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n")
        #expect(csv.interactions == [Interaction(user: 0, item: 0, value: 3.5, timestamp: 1_112_486_027)])
        let error = #expect(throws: DatasetError.self) { try RatingsDataset.parse("a\tb\tc\n1\t2\t3\nbroken\n") }
        #expect(error?.line == 3)
    }
}

@Suite("Biased matrix factorisation")
struct BiasedMFTests {
    /// Ratings from a known rank-2 model plus a little noise.
    static func lowRankData(users: Int = 60, items: Int = 40, seed: UInt64 = 11) -> [Interaction] {
        var generator = SeededRandom(seed: seed)
        let userVectors = (0..<users).map { _ in (generator.nextGaussian(), generator.nextGaussian()) }
        let itemVectors = (0..<items).map { _ in (generator.nextGaussian(), generator.nextGaussian()) }
        var data: [Interaction] = []
        for user in 0..<users {
            for item in 0..<items where generator.next() % 3 != 0 {
                let (a, b) = userVectors[user]
                let (c, d) = itemVectors[item]
                let rating = min(5, max(1, 3 + 0.6 * (a * c + b * d) + 0.05 * generator.nextGaussian()))
                data.append(Interaction(user: Int32(user), item: Int32(item), value: Float(rating)))
            }
        }
        return data
    }

    @Test("same seed, same model, bit for bit")
    func deterministic() {
        let data = Self.lowRankData()
        var configuration = BiasedMF.Configuration()
        configuration.factors = 4
        configuration.maximumEpochs = 5
        let first = BiasedMF.fit(train: data, userCount: 60, itemCount: 40, configuration: configuration).model
        let second = BiasedMF.fit(train: data, userCount: 60, itemCount: 40, configuration: configuration).model
        #expect(first.userFactors == second.userFactors && first.itemBias == second.itemBias)
        configuration.seed = 43
        #expect(BiasedMF.fit(train: data, userCount: 60, itemCount: 40, configuration: configuration).model.userFactors != first.userFactors)
    }

    @Test("recovers a low-rank rating matrix: held-out RMSE far below predicting the mean")
    func learnsLowRankStructure() {
        let (train, test) = Splits.random(Self.lowRankData(), testFraction: 0.2, seed: 5)
        let inner = Splits.random(train, testFraction: 0.1, seed: 6)
        var configuration = BiasedMF.Configuration()
        configuration.factors = 4
        configuration.learningRate = 0.02
        configuration.regularization = 0.02
        configuration.maximumEpochs = 300
        configuration.patience = 10
        let (model, history) = BiasedMF.fit(train: inner.train, validation: inner.test, userCount: 60, itemCount: 40, configuration: configuration)
        let mean = train.reduce(0.0) { $0 + Double($1.value) } / Double(train.count)
        let baseline = (test.reduce(0.0) { $0 + (Double($1.value) - mean) * (Double($1.value) - mean) } / Double(test.count)).squareRoot()
        let rmse = model.rmse(on: test)
        #expect(rmse < baseline * 0.5, "rmse \(rmse) vs mean-only \(baseline)")
        // Early stopping kept the best validation epoch.
        #expect(history.validationRMSE[history.bestEpoch] == history.validationRMSE.min())
    }

    @Test("fold-in: a user left out of training, fitted from half their ratings, predicts the other half far better than the biases")
    func foldInPredictsHeldOutRatings() {
        let data = Self.lowRankData(users: 80)
        let train = data.filter { $0.user < 60 }
        var configuration = BiasedMF.Configuration()
        configuration.factors = 4
        configuration.learningRate = 0.02
        configuration.regularization = 0.02
        configuration.maximumEpochs = 300
        let model = BiasedMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration).model
        var foldInError = 0.0, biasError = 0.0, count = 0.0
        for user in Int32(60)..<80 {
            let ratings = data.filter { $0.user == user }
            let (given, hidden) = (ratings.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), ratings.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
            let folded = model.foldIn(given.map { (Int($0.item), $0.value) }, prior: 0.5, biasPrior: 0.05)
            #expect(folded.factors.count == 4 && folded.factors.allSatisfy(\.isFinite))
            for rating in hidden {
                let predicted = model.predict(folded, item: Int(rating.item))
                foldInError += Double((predicted - rating.value) * (predicted - rating.value))
                let biasOnly = model.predict(user: -1, item: Int(rating.item))
                biasError += Double((biasOnly - rating.value) * (biasOnly - rating.value))
                count += 1
            }
        }
        let (foldInRMSE, biasRMSE) = ((foldInError / count).squareRoot(), (biasError / count).squareRoot())
        #expect(foldInRMSE < biasRMSE * 0.6, "fold-in \(foldInRMSE) vs biases \(biasRMSE)")
        // No ratings: the biases alone.
        let empty = model.foldIn([])
        #expect(model.predict(empty, item: 3) == model.predict(user: -1, item: 3))
    }

    @Test("fold-in's default priors: one rating moves a new user only part of the way from the item baseline, twenty move them further")
    func foldInShrinksSmallProfiles() {
        let data = Self.lowRankData(users: 60)
        var configuration = BiasedMF.Configuration()
        configuration.factors = 4
        let model = BiasedMF.fit(train: data, userCount: 60, itemCount: 40, configuration: configuration).model
        let baseline = model.foldIn([])
        // A 5 on an item the baseline puts lower: the prediction for that item rises, but by less than half
        // the gap (a single rating is mostly noise).
        let item = (0..<40).min { model.predict(baseline, item: $0) < model.predict(baseline, item: $1) }!
        let gap = 5 - model.predict(baseline, item: item)
        let one = model.foldIn([(item, 5)])
        let moved = model.predict(one, item: item) - model.predict(baseline, item: item)
        #expect(moved > 0 && moved < gap / 2, "moved \(moved) of a gap of \(gap)")
        // The same 5 twenty times over different items: more evidence, a larger move of the bias.
        let twenty = model.foldIn((0..<20).map { ($0, 5) })
        #expect(twenty.bias > one.bias)
    }

    @Test("unknown users and items fall back to biases and the mean; predictions stay in range")
    func fallbacks() {
        let data = [Interaction(user: 0, item: 0, value: 5), Interaction(user: 1, item: 1, value: 1)]
        var configuration = BiasedMF.Configuration()
        configuration.factors = 2
        configuration.maximumEpochs = 50
        let model = BiasedMF.fit(train: data, userCount: 2, itemCount: 2, configuration: configuration).model
        #expect(model.predict(user: 99, item: 99) == model.globalMean)
        #expect(model.predict(user: 0, item: 99) == min(5, max(0.5, model.globalMean + model.userBias[0])))
        for user in 0..<2 { for item in 0..<2 { #expect((0.5...5).contains(model.predict(user: user, item: item))) } }
    }
}
