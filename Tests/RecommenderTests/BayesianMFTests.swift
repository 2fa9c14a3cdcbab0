import Recommender
import Testing

@Suite("Bayesian MF (Gibbs sampling)")
struct BayesianMFTests {
    static func meanOnlyRMSE(train: [Interaction], test: [Interaction]) -> Double {
        let mean = train.reduce(0.0) { $0 + Double($1.value) } / Double(train.count)
        return (test.reduce(0.0) { $0 + (Double($1.value) - mean) * (Double($1.value) - mean) } / Double(test.count)).squareRoot()
    }

    @Test("deterministic for a seed; learns a low-rank matrix far better than the mean, with nothing tuned")
    func learnsLowRankStructure() {
        let (train, test) = Splits.random(BiasedMFTests.lowRankData(), testFraction: 0.2, seed: 5)
        var configuration = BayesianMF.Configuration()
        configuration.factors = 4
        configuration.iterations = 150
        let first = BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration)
        let second = BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration)
        #expect(first.rmse(on: test) == second.rmse(on: test))
        let baseline = Self.meanOnlyRMSE(train: train, test: test)
        // The planted noise is 0.05 on a scale whose spread is ~0.8: the sampler must get close to it.
        #expect(first.rmse(on: test) < baseline * 0.3, "rmse \(first.rmse(on: test)) vs mean-only \(baseline)")
        configuration.seed = 43
        #expect(BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration).rmse(on: test) != first.rmse(on: test))
    }

    @Test("on the same data it beats SGD biased MF with default settings (the sampled priors regularise)")
    func beatsDefaultSGD() {
        let (train, test) = Splits.random(BiasedMFTests.lowRankData(users: 80, items: 50, seed: 21), testFraction: 0.3, seed: 2)
        var bayesian = BayesianMF.Configuration()
        bayesian.factors = 4
        var sgd = BiasedMF.Configuration()
        sgd.factors = 4
        let bayesianRMSE = BayesianMF.fit(train: train, userCount: 80, itemCount: 50, configuration: bayesian).rmse(on: test)
        let sgdRMSE = BiasedMF.fit(train: train, userCount: 80, itemCount: 50, configuration: sgd).model.rmse(on: test)
        #expect(bayesianRMSE < sgdRMSE, "Bayesian \(bayesianRMSE) vs SGD \(sgdRMSE)")
    }

    @Test("unknown users and items get the biases that exist, within the rating scale")
    func unknownIDs() {
        let train = BiasedMFTests.lowRankData()
        var configuration = BayesianMF.Configuration()
        configuration.factors = 2
        configuration.iterations = 40
        configuration.burnIn = 10
        // Users 60..<70 and items 40..<45 have no ratings: their parameters are prior draws and must not count.
        let model = BayesianMF.fit(train: train, userCount: 70, itemCount: 45, configuration: configuration)
        let mean = Float(train.reduce(0.0) { $0 + Double($1.value) } / Double(train.count))
        for (user, item) in [(65, 42), (-1, -1), (999, 3), (3, 999)] {
            let predicted = model.predict(user: user, item: item)
            #expect((0.5...5).contains(predicted) && predicted.isFinite)
            if user >= 60 && item >= 40 { #expect(abs(predicted - mean) < 0.2, "no parameter of an unseen id: the global mean") }
        }
        // A known item keeps its bias for an unknown user: a well-liked item predicts above a disliked one.
        let byItem = Dictionary(grouping: train, by: \.item).mapValues { $0.reduce(0) { $0 + $1.value } / Float($0.count) }
        let best = byItem.max { $0.value < $1.value }!.key
        let worst = byItem.min { $0.value < $1.value }!.key
        #expect(model.predict(user: -1, item: Int(best)) > model.predict(user: -1, item: Int(worst)))
    }

    @Test("fold-in: people the model never saw, from their ratings alone, predicted far better than the mean and no worse than biased MF's fold-in")
    func foldInOfNewUsers() {
        let data = BiasedMFTests.lowRankData(users: 80, items: 40, seed: 17)
        // Users 60..<80 are new: the model is fitted on the others, then each new user's first two thirds
        // of ratings are folded in and the rest predicted.
        let trained = data.filter { $0.user < 60 }
        var newUsers: [(given: [(item: Int, rating: Float)], asked: [Interaction])] = []
        for user in 60..<80 {
            let rows = data.filter { $0.user == Int32(user) }
            let cut = rows.count * 2 / 3
            newUsers.append((rows[..<cut].map { (Int($0.item), $0.value) }, Array(rows[cut...])))
        }
        var configuration = BayesianMF.Configuration()
        configuration.factors = 4
        configuration.iterations = 120
        configuration.burnIn = 20
        let model = BayesianMF.fit(train: trained, userCount: 60, itemCount: 40, configuration: configuration)
        let served = BayesianFoldIn(model, keeping: 25)
        #expect(served.sampleCount == 25)
        var sgdConfiguration = BiasedMF.Configuration()
        sgdConfiguration.factors = 4
        let sgd = BiasedMF.fit(train: trained, userCount: 60, itemCount: 40, configuration: sgdConfiguration).model
        func rmse(_ predict: ([(item: Int, rating: Float)], Int) -> Float) -> Double {
            var squares = 0.0
            var count = 0
            for (given, asked) in newUsers {
                for row in asked {
                    let error = Double(predict(given, Int(row.item)) - row.value)
                    squares += error * error
                    count += 1
                }
            }
            return (squares / Double(count)).squareRoot()
        }
        let bayesian = rmse { given, item in served.predict(served.foldIn(given), item: item) }
        let biased = rmse { given, item in sgd.predict(sgd.foldIn(given), item: item) }
        let asked = newUsers.flatMap(\.asked)
        let meanOnly = Self.meanOnlyRMSE(train: trained, test: asked)
        #expect(bayesian < meanOnly * 0.4, "fold-in \(bayesian) against the mean's \(meanOnly)")
        #expect(bayesian <= biased, "Bayesian fold-in \(bayesian) against biased MF's \(biased)")
        // No ratings: the prior mean, within the scale; an unknown item: the user's baseline.
        let nobody = served.foldIn([])
        #expect((0.5...5).contains(served.predict(nobody, item: 3)))
        #expect((0.5...5).contains(served.predict(served.foldIn(newUsers[0].given), item: -1)))
    }

    @Test("the Gamma sampler has the right mean and variance (shapes below and above 1)")
    func gammaSampler() {
        var generator = SeededRandom(seed: 9)
        for (shape, rate) in [(0.5, 2.0), (3.0, 1.0), (120.0, 40.0)] {
            let draws = (0..<40_000).map { _ in generator.nextGamma(shape: shape, rate: rate) }
            let mean = draws.reduce(0, +) / Double(draws.count)
            let variance = draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(draws.count)
            #expect(draws.allSatisfy { $0 > 0 && $0.isFinite })
            #expect(abs(mean - shape / rate) < 0.03 * shape / rate, "shape \(shape): mean \(mean)")
            #expect(abs(variance - shape / (rate * rate)) < 0.08 * shape / (rate * rate), "shape \(shape): variance \(variance)")
        }
    }
}
