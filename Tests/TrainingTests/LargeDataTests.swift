import Recommender
import Testing
import Training

/// The rating model's choice past `TrainingParameters.large` (pure: no stack), with the
/// threshold lowered to this test's size.
@Suite("Training past the large size: rating choice on a user sample, settled sweeps, no biased MF refit, learning curve on sampled test users")
struct LargeDataTests {
    /// Ratings of a rank-2 taste plus noise, 1–5, each user's in time order.
    static func rows(users: Int = 300, items: Int = 80, seed: UInt64 = 3) -> [TrainingRow] {
        var generator = SeededRandom(seed: seed)
        let userVectors = (0..<users).map { _ in (generator.nextGaussian(), generator.nextGaussian(), 0.3 * generator.nextGaussian()) }
        let itemVectors = (0..<items).map { _ in (generator.nextGaussian(), generator.nextGaussian(), 0.4 * generator.nextGaussian()) }
        var rows: [TrainingRow] = []
        for user in 0..<users {
            var time: Int64 = 1_000_000
            for item in 0..<items where generator.next() % 3 == 0 {
                let (a, b, userBias) = userVectors[user]
                let (c, d, itemBias) = itemVectors[item]
                let score = 3.4 + userBias + itemBias + 0.7 * (a * c + b * d) + 0.4 * generator.nextGaussian()
                time += 60
                rows.append(TrainingRow(user: "u\(user)", item: "i\(item)", type: "movie.rating", value: min(5, max(1, score.rounded())), time: time))
            }
        }
        return rows
    }

    static func parameters(aboveRatings: Int) -> TrainingParameters {
        var parameters = TrainingParameters()
        parameters.alsFactors = 8
        parameters.alsIterations = 3
        parameters.ratingFactors = 8
        parameters.bayesianSweeps = 80
        parameters.topNCandidates = [.implicitALS]
        parameters.large.aboveRatings = aboveRatings
        parameters.large.sampleRatings = 3_000
        parameters.large.settling = .init(every: 5, tolerance: 0.002, minimumSweeps: 30)
        parameters.large.aboveInteractions = aboveRatings
        parameters.large.curveUsers = 100
        return parameters
    }

    @Test("past the size: the choice on a seeded user sample, Bayesian MF's sweeps settled and reused by the production fit, no biased MF refit; deterministic")
    func pastTheSize() {
        let rows = Self.rows()
        let parameters = Self.parameters(aboveRatings: 5_000)
        #expect(rows.count > 5_000)
        let trained = ModelTraining.train(rows: rows, parameters: parameters, curveIterations: [1, 2])
        // The learning curve's earlier points on 100 test users; its last (the served model's) on all of them.
        #expect(trained.metrics["learning_curve.sample_users"] == 100)
        #expect(trained.learningCurve.map { $0.iterations } == [1, 2, 3])
        #expect(trained.learningCurve.last?.ndcg == trained.metrics["ndcg@10"])
        let sampled = trained.metrics["ratings.choice_sample.ratings"] ?? 0
        #expect(sampled >= 3_000 && sampled < Double(rows.count) / 2)
        let sampleUsers = trained.metrics["ratings.choice_sample.users"] ?? 0
        #expect(sampleUsers > 0 && sampleUsers < 300)
        #expect(trained.chosen["ratings.kind"] == "bayesian-mf")
        let sweeps = Int(trained.chosen["ratings.bayesian_sweeps"] ?? "") ?? 0
        #expect(sweeps >= 30 && sweeps < 80, "settled at \(sweeps) sweeps")
        // The trace ends where the chain stopped.
        #expect(trained.chosen["ratings.bayesian_validation_rmse_by_sweeps"]?.split(separator: " ").last?.hasPrefix("\(sweeps):") == true)
        #expect(trained.bundle.ratings == nil, "no biased MF refit where Bayesian MF won")
        let served = trained.bundle.bayesianRatings
        #expect(served != nil)
        // The production chain drew as many sweeps: its kept samples (burn-in 15 % of 80 = 12) are all served up to 40.
        #expect(served?.sampleCount == min(40, sweeps - 12))
        #expect((trained.metrics["rmse"] ?? 9) < 1.0)
        let again = ModelTraining.train(rows: rows, parameters: parameters, curveIterations: [1, 2])
        #expect(again.metrics == trained.metrics && again.chosen == trained.chosen)
    }

    @Test("at or below the size: every rating, every configured sweep and the biased MF refit, as before")
    func atOrBelowTheSize() {
        let rows = Self.rows()
        let trained = ModelTraining.train(rows: rows, parameters: Self.parameters(aboveRatings: rows.count), curveIterations: [1])
        #expect(trained.metrics["ratings.choice_sample.ratings"] == nil)
        #expect(trained.metrics["learning_curve.sample_users"] == nil)
        #expect(trained.chosen["ratings.bayesian_sweeps"] == "80")
        #expect(trained.bundle.ratings != nil)
        #expect(trained.bundle.bayesianRatings?.sampleCount == 40)
    }
}
