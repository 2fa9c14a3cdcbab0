import Recommender
import Testing

@Suite("Bayesian MF: validation trace and settling; per-user lists over threads")
struct BayesianSettlingTests {
    /// Low-rank ratings split 80/20, and a short chain on them (4 factors, 150 sweeps, 20 of burn-in).
    static func smallChain() -> (train: [Interaction], validation: [Interaction], configuration: BayesianMF.Configuration) {
        let (train, validation) = Splits.random(BiasedMFTests.lowRankData(), testFraction: 0.2, seed: 5)
        var configuration = BayesianMF.Configuration()
        configuration.factors = 4
        configuration.iterations = 150
        configuration.burnIn = 20
        return (train, validation, configuration)
    }

    @Test("the trace measures only: the same chain with or without it, its last point the model's own validation RMSE")
    func traceMeasuresOnly() {
        let (train, validation, configuration) = Self.smallChain()
        let traced = BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration, validation: validation)
        let plain = BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration)
        #expect(traced.validationTrace.map(\.sweeps) == Array(stride(from: 30, through: 150, by: 10)))
        #expect(traced.sweeps == 150 && plain.sweeps == 150)
        #expect(traced.rmse(on: validation) == plain.rmse(on: validation))
        #expect(abs(traced.validationTrace.last!.rmse - traced.rmse(on: validation)) < 1e-9)
        // Every traced average predicts far better than the training mean.
        let meanOnly = BayesianMFTests.meanOnlyRMSE(train: train, test: validation)
        for point in traced.validationTrace { #expect(point.rmse < meanOnly * 0.3, "\(point.sweeps) sweeps: \(point.rmse) vs mean-only \(meanOnly)") }
    }

    @Test("settling stops the chain once the validation RMSE improves by less than the tolerance; the stopped chain is the full one's first sweeps")
    func settlingStopsEarly() {
        let (train, validation, chain) = Self.smallChain()
        var configuration = chain
        configuration.settling = .init(every: 10, tolerance: 0.01, minimumSweeps: 40)
        let settled = BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration, validation: validation)
        #expect(settled.sweeps >= 40 && settled.sweeps < 150)
        let trace = settled.validationTrace
        #expect(trace.last?.sweeps == settled.sweeps)
        #expect(trace.count >= 2 && trace[trace.count - 2].rmse - trace[trace.count - 1].rmse < 0.01)
        // Every earlier check past the minimum improved by at least the tolerance (else it would have stopped there).
        for index in trace.indices.dropFirst() where trace[index].sweeps >= 40 && index < trace.count - 1 {
            #expect(trace[index - 1].rmse - trace[index].rmse >= 0.01)
        }
        var prefix = configuration
        prefix.settling = nil
        prefix.iterations = settled.sweeps
        let fixed = BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: prefix)
        #expect(fixed.rmse(on: validation) == settled.rmse(on: validation))
        // Without a validation set there is nothing to settle on: every sweep.
        #expect(BayesianMF.fit(train: train, userCount: 60, itemCount: 40, configuration: configuration).sweeps == 150)
    }

    @Test("lists over threads are the lists one thread computes")
    func listsOverThreads() {
        let users: [Int32] = Array(0..<500).map { Int32(($0 * 7919) % 1000) }
        let recommend: @Sendable (Int32) -> [Int32] = { user in (0..<Int32(user % 13)).map { (user &* 31 &+ $0) % 97 } }
        let sequential = Dictionary(uniqueKeysWithValues: users.map { ($0, recommend($0)) })
        #expect(Metrics.lists(users: users, threads: 1, recommend) == sequential)
        #expect(Metrics.lists(users: users, threads: 2, recommend) == sequential)
        #expect(Metrics.lists(users: users, threads: 3, recommend) == sequential)
        #expect(Metrics.lists(users: [], threads: 2, recommend).isEmpty)
    }
}
