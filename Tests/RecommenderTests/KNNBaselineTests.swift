import Recommender
import Testing

@Suite("kNN baseline and rating blend")
struct KNNBaselineTests {
    @Test("baselines follow the closed form on a tiny case; a neighbour's residual moves the prediction")
    func baselinesAndNeighbours() {
        // Items 0 and 1 are rated alike by everyone; item 2 is noise.
        var data: [Interaction] = []
        for user in 0..<30 {
            let taste: Float = user % 2 == 0 ? 5 : 1
            data.append(Interaction(user: Int32(user), item: 0, value: taste))
            if user != 0 { data.append(Interaction(user: Int32(user), item: 1, value: taste)) }
            data.append(Interaction(user: Int32(user), item: 2, value: 3))
        }
        var configuration = KNNBaseline.Configuration()
        configuration.shrinkage = 0
        let model = KNNBaseline.fit(data, userCount: 30, itemCount: 3, configuration: configuration)
        // User 0 loves item 0 (5 while the baseline is lower), and items 0 and 1 correlate: the prediction
        // for item 1 rises above its baseline toward 5.
        let baseline = model.baseline(user: 0, item: 1)
        let prediction = model.predict(user: 0, item: 1)
        #expect(prediction > baseline + 0.5, "prediction \(prediction) vs baseline \(baseline)")
        // Unknown ids fall back to the baseline (or the mean).
        #expect(model.predict(user: 99, item: 99) == model.globalMean)
    }

    @Test("the blend recovers known weights by least squares")
    func blendRecoversWeights() {
        var generator = SeededRandom(seed: 2)
        let a = (0..<500).map { _ in generator.nextUnit() * 4 + 1 }
        let b = (0..<500).map { _ in generator.nextUnit() * 4 + 1 }
        let actual = zip(a, b).map { 0.2 + 0.7 * $0 + 0.3 * $1 }
        let blend = RatingBlend.fit(predictions: [a, b], actual: actual, ridge: 0)
        #expect(abs(blend.weights[0] - 0.2) < 1e-6 && abs(blend.weights[1] - 0.7) < 1e-6 && abs(blend.weights[2] - 0.3) < 1e-6)
        #expect(abs(blend.combine([2, 3]) - (0.2 + 1.4 + 0.9)) < 1e-6)
    }
}

@Suite("SVD++")
struct SVDPlusPlusTests {
    @Test("deterministic for a seed, and learns a low-rank matrix far better than the mean")
    func learns() {
        let (train, test) = Splits.random(BiasedMFTests.lowRankData(), testFraction: 0.2, seed: 5)
        var configuration = SVDPlusPlus.Configuration()
        configuration.factors = 4
        configuration.maximumEpochs = 80
        configuration.learningRate = 0.02
        configuration.regularization = 0.02
        let first = SVDPlusPlus.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration).model
        let second = SVDPlusPlus.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration).model
        #expect(first.rmse(on: test) == second.rmse(on: test))
        let mean = train.reduce(0.0) { $0 + Double($1.value) } / Double(train.count)
        let baseline = (test.reduce(0.0) { $0 + (Double($1.value) - mean) * (Double($1.value) - mean) } / Double(test.count)).squareRoot()
        #expect(first.rmse(on: test) < baseline * 0.5, "rmse \(first.rmse(on: test)) vs mean-only \(baseline)")
        #expect(first.predict(user: 999, item: 999) == Float(train.reduce(0.0) { $0 + Double($1.value) } / Double(train.count)))
    }
}
