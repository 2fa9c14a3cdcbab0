import Foundation
import Recommender
import Testing

@Suite("Popularity calibration of predicted ratings")
struct PopularityCalibrationTests {
    @Test("least squares recovers a planted intercept and slope on ln(1 + count)")
    func recoversALinearOffset() {
        var generator = SeededRandom(seed: 4)
        var predicted: [Float] = []
        var actual: [Float] = []
        var counts: [Int] = []
        for _ in 0..<2_000 {
            let count = Int(generator.next() % 500)
            let prediction = Float(3 + generator.nextGaussian() * 0.5)
            predicted.append(prediction)
            counts.append(count)
            actual.append(prediction - 0.3 + 0.06 * Float(log1p(Double(count))) + Float(generator.nextGaussian() * 0.1))
        }
        let calibration = PopularityCalibration.fit(predicted: predicted, actual: actual, counts: counts)
        #expect(abs(calibration.intercept + 0.3) < 0.03, "intercept \(calibration.intercept)")
        #expect(abs(calibration.slope - 0.06) < 0.01, "slope \(calibration.slope)")
        #expect(calibration.itemOffsets(counts: [0, 10]) == [calibration.offset(count: 0), calibration.offset(count: 10)])
        #expect(PopularityCalibration.counts([Interaction(user: 0, item: 1, value: 3), Interaction(user: 1, item: 1, value: 4)], itemCount: 3) == [0, 2, 0])
    }

    @Test("a fold-in whose rarely rated items are over-predicted: the choice keeps a calibration and it lowers the held-out error; the bundle's fold-in applies it")
    func selectionAndFoldIn() {
        // Low-rank ratings where items 0..<10 are rated by everyone and lower than the rest by a margin that
        // grows as the item gets rarer.
        var generator = SeededRandom(seed: 12)
        let users = 80, items = 40
        let userVectors = (0..<users).map { _ in (generator.nextGaussian(), generator.nextGaussian()) }
        let itemVectors = (0..<items).map { _ in (generator.nextGaussian(), generator.nextGaussian()) }
        var data: [Interaction] = []
        for user in 0..<users {
            for item in 0..<items where item < 10 || generator.next() % UInt64(1 + item / 5) == 0 {
                let (a, b) = userVectors[user]
                let (c, d) = itemVectors[item]
                let rating = min(5, max(1, 3.5 + 0.6 * (a * c + b * d) + 0.1 * generator.nextGaussian()))
                data.append(Interaction(user: Int32(user), item: Int32(item), value: Float(rating), timestamp: Int64(generator.next() % 1_000)))
            }
        }
        let (fit, validation) = Splits.temporal(data, testFraction: 0.25)
        var configuration = BayesianMF.Configuration()
        configuration.factors = 2
        configuration.iterations = 60
        configuration.burnIn = 10
        var model = BayesianFoldIn(BayesianMF.fit(train: fit, userCount: users, itemCount: items, configuration: configuration), keeping: 10)
        let counts = PopularityCalibration.counts(fit, itemCount: items)
        let choice = ModelSelection.popularityCalibration(model, fit: fit, validation: validation, counts: counts)
        // Whatever is chosen, a kept calibration validated better out of sample than none.
        if choice.calibration != nil { #expect(choice.crossValidatedRMSE < choice.withoutRMSE) }
        // A planted offset per item shows in predictions, clipped to the scale; unknown items get none.
        let user = model.foldIn(fit.filter { $0.user == 3 }.map { (item: Int($0.item), rating: $0.value) })
        let before = model.predict(user, item: 5)
        model.itemOffsets = [Float](repeating: -0.25, count: items)
        #expect(abs(model.predict(user, item: 5) - max(0.5, before - 0.25)) < 1e-5)
        model.itemOffsets = [Float](repeating: 100, count: items)
        #expect(model.predict(user, item: 5) == 5)
        #expect(model.predict(user, item: -1) <= 5)
    }
}
