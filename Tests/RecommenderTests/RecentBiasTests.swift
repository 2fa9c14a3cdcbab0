import Recommender
import Testing

@Suite("Bayesian fold-in with a recent bias (the user's latest drift)")
struct RecentBiasTests {
    /// Low-rank ratings in time order per user, where the user's latest half is shifted by a drift of their
    /// own (±0.6): what a user rates next follows their latest ratings, not their average.
    static func driftingData(users: Int = 80, items: Int = 40, seed: UInt64 = 29) -> [Interaction] {
        var generator = SeededRandom(seed: seed)
        let userVectors = (0..<users).map { _ in (generator.nextGaussian(), generator.nextGaussian()) }
        let itemVectors = (0..<items).map { _ in (generator.nextGaussian(), generator.nextGaussian()) }
        var data: [Interaction] = []
        for user in 0..<users {
            let drift = generator.next() % 2 == 0 ? 0.6 : -0.6
            var order = Array(0..<items)
            order.shuffle(using: &generator)
            for (time, item) in order.enumerated() {
                let (a, b) = userVectors[user]
                let (c, d) = itemVectors[item]
                let shift = time >= items / 2 ? drift : 0
                let rating = min(5, max(1, 3 + 0.6 * (a * c + b * d) + shift + 0.05 * generator.nextGaussian()))
                data.append(Interaction(user: Int32(user), item: Int32(item), value: Float(rating), timestamp: Int64(time)))
            }
        }
        return data
    }

    static func served(_ train: [Interaction], users: Int, items: Int = 40) -> BayesianFoldIn {
        var configuration = BayesianMF.Configuration()
        configuration.factors = 4
        configuration.iterations = 100
        configuration.burnIn = 20
        return BayesianFoldIn(BayesianMF.fit(train: train, userCount: users, itemCount: items, configuration: configuration), keeping: 20)
    }

    @Test("new users whose latest ratings drifted: the recent bias predicts what comes next better than the plain fold-in")
    func beatsThePlainFoldInOnDrift() {
        let data = Self.driftingData()
        // The model is fitted on users 0..<60; users 60..<80 are new: their first 30 ratings are given, the
        // last 10 asked.
        let trained = data.filter { $0.user < 60 }
        let newUsers = data.filter { $0.user >= 60 }
        let given = newUsers.filter { $0.timestamp < 30 }
        let asked = newUsers.filter { $0.timestamp >= 30 }
        var model = Self.served(trained, users: 60)
        let plain = model.rmse(history: given, on: asked)
        model.recentBias = .init(share: 0.3, precision: 5)
        let recent = model.rmse(history: given, on: asked)
        #expect(recent < plain * 0.8, "recent bias \(recent) against the plain fold-in's \(plain)")
        model.recentBias = .init(share: 0.3, precision: 5, decay: 1)
        #expect(model.rmse(history: given, on: asked) < plain * 0.8)
    }

    @Test("deterministic; the order of the ratings matters only with a recent bias; within the scale")
    func determinismAndOrder() {
        let data = Self.driftingData(users: 40, seed: 3)
        var model = Self.served(data.filter { $0.user < 30 }, users: 30)
        let history = data.filter { $0.user == 35 }.sorted { $0.timestamp < $1.timestamp }.map { (item: Int($0.item), rating: $0.value) }
        let reversed = Array(history.reversed())
        #expect(model.predict(model.foldIn(history), item: 3) == model.predict(model.foldIn(reversed), item: 3))
        model.recentBias = .init(share: 0.2, precision: 10, decay: 0.5)
        let first = model.predict(model.foldIn(history), item: 3)
        #expect(first == model.predict(model.foldIn(history), item: 3))
        #expect(first != model.predict(model.foldIn(reversed), item: 3))
        // Edge cases: no ratings, one rating, an unknown item.
        for ratings in [[], [history[0]], history] {
            let user = model.foldIn(ratings)
            for item in [0, 39, -1, 999] { #expect((0.5...5).contains(model.predict(user, item: item))) }
        }
        #expect(BayesianFoldIn.RecentBias(share: 0.2, precision: 1).recentCount(of: 3) == 1)
        #expect(BayesianFoldIn.RecentBias(share: 0.2, precision: 1).recentCount(of: 0) == 0)
        #expect(BayesianFoldIn.RecentBias(share: 0, precision: 1).recentCount(of: 10) == 0)
        #expect(BayesianFoldIn.RecentBias(share: 0.25, precision: 1).recentCount(of: 10) == 3)
    }

    @Test("validation held out as the question asks chooses a recent bias on drifting data; the choice never validates worse than none")
    func selection() {
        let data = Self.driftingData(users: 60, seed: 8)
        let (fit, validation) = Splits.temporal(data, testFraction: 0.2)
        let model = Self.served(fit, users: 60)
        let choice = ModelSelection.recentBias(model, fit: fit, validation: validation)
        #expect(choice.recentBias != nil)
        #expect(choice.validationRMSE < choice.withoutRMSE)
        // The same ratings with time reordered by item (the drift no longer follows time): the choice can only
        // match or improve validation.
        let steady = Self.driftingData(users: 60, seed: 8).map { interaction -> Interaction in
            var copy = interaction
            copy.timestamp = Int64(interaction.item)
            return copy
        }
        let (steadyFit, steadyValidation) = Splits.temporal(steady, testFraction: 0.2)
        let steadyChoice = ModelSelection.recentBias(Self.served(steadyFit, users: 60), fit: steadyFit, validation: steadyValidation)
        #expect(steadyChoice.validationRMSE <= steadyChoice.withoutRMSE)
    }
}
