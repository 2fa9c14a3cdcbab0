import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bayesian biased matrix factorisation: a factorization machine over (user, item) one-hot features,
/// `r̂(u, i) = w₀ + b_u + b_i + p_u · q_i`, whose parameters are not fitted but *sampled* by Gibbs sampling
/// (Freudenthaler, Schmidt-Thieme & Rendle 2011, "Bayesian Factorization Machines"; libFM's MCMC). Every
/// parameter group has a Gaussian prior whose mean and precision are themselves sampled (Normal–Gamma
/// hyper-priors), and the noise precision is sampled too, so there is no learning rate, no regularisation
/// and no epoch count to tune: only the number of factors and of samples. Predictions average the
/// predictions of every sample after burn-in, which is what makes it strong on small data (an ensemble
/// for free) and different enough from the SGD models to be worth blending with them.
public struct BayesianMF: RatingPredictor, Sendable {
    public struct Configuration: Sendable, Hashable {
        public var factors: Int = 16
        /// Gibbs sweeps; predictions average the sweeps after `burnIn`.
        public var iterations: Int = 200
        public var burnIn: Int = 30
        /// Standard deviation of the initial factors.
        public var initialScale: Float = 0.1
        public var seed: UInt64 = 42
        public var ratingRange: ClosedRange<Float> = 0.5...5.0
        /// Threads drawing a group's parameters (users' or items'): given the others, each one's draw touches its
        /// own ratings only, and the noise is drawn in order beforehand, so the chain is the same for any count.
        public var threads: Int = 2
        /// Stop before `iterations` once the validation RMSE has settled (``fit(train:userCount:itemCount:configuration:validation:)``
        /// given a validation set); nil: every sweep.
        public var settling: Settling?
        public init() {}
    }

    /// When the sweeps stop: every `every` sweeps after burn-in, the RMSE on the validation set of the
    /// samples' average so far (what ``predict(user:item:)`` would give) is compared with the last check's;
    /// once it improved by less than `tolerance`, and at least `minimumSweeps` were drawn, the chain stops.
    /// Later sweeps add samples to an average that no longer moves: their cost buys nothing the RMSE shows.
    public struct Settling: Sendable, Hashable {
        public var every: Int
        public var tolerance: Double
        public var minimumSweeps: Int

        public init(every: Int = 10, tolerance: Double = 0.0005, minimumSweeps: Int = 50) {
            self.every = every
            self.tolerance = tolerance
            self.minimumSweeps = minimumSweeps
        }
    }

    /// The validation RMSE of the samples' average after a number of sweeps.
    public struct SweepRMSE: Sendable, Hashable {
        public var sweeps: Int
        public var rmse: Double
    }

    /// The parameters of one Gibbs sample.
    struct Sample: Sendable {
        var globalBias: Float
        var userBias: [Float]
        var itemBias: [Float]
        var userFactors: [Float]
        var itemFactors: [Float]
        /// What a new user's parameters are drawn from in this sample: the noise precision and the users'
        /// priors (bias, then each factor column), as this sweep drew them.
        var noisePrecision: Float = 1
        var userPriorMeans: [Float] = []
        var userPriorPrecisions: [Float] = []
    }

    public let configuration: Configuration
    public let userCount: Int
    public let itemCount: Int
    let samples: [Sample]
    /// Users and items with at least one training rating: the others' sampled parameters are draws from
    /// the prior, noise, so predictions leave them out (as the SGD models leave them at zero).
    let knownUsers: [Bool]
    let knownItems: [Bool]
    /// With a validation set given to ``fit(train:userCount:itemCount:configuration:validation:)``: the RMSE
    /// of the samples' average on it every `settling.every` (10) sweeps after burn-in, and at the last sweep.
    public var validationTrace: [SweepRMSE] = []
    /// The sweeps drawn: `iterations`, or fewer where the validation RMSE settled.
    public var sweeps = 0

    /// `validation` (optional) is only measured: the RMSE of the running average of the samples on it is
    /// traced, and with `configuration.settling` the chain stops once it settles. The draws are the same
    /// with or without it, so a chain stopped at sweep s is the first s sweeps of the full one.
    public static func fit(
        train: [Interaction], userCount: Int, itemCount: Int, configuration: Configuration = .init(), validation: [Interaction] = []
    ) -> BayesianMF {
        var sampler = GibbsSampler(train: train, userCount: userCount, itemCount: itemCount, configuration: configuration)
        var samples: [Sample] = []
        samples.reserveCapacity(max(0, configuration.iterations - configuration.burnIn))
        let knownUsers = sampler.userRows.map { $0 > 0 }
        let knownItems = sampler.itemRows.map { $0 > 0 }
        var average = RunningValidation(validation, knownUsers: knownUsers, knownItems: knownItems, configuration: configuration)
        var trace: [SweepRMSE] = []
        var sweepsDrawn = 0
        let every = max(1, configuration.settling?.every ?? 10)
        for iteration in 0..<configuration.iterations {
            sampler.sweep()
            sweepsDrawn = iteration + 1
            guard iteration >= configuration.burnIn else { continue }
            samples.append(sampler.current)
            guard !validation.isEmpty else { continue }
            average.add(sampler.current)
            let sweeps = iteration + 1
            guard (sweeps - configuration.burnIn) % every == 0 || sweeps == configuration.iterations else { continue }
            let rmse = average.rmse()
            let previous = trace.last?.rmse
            trace.append(SweepRMSE(sweeps: sweeps, rmse: rmse))
            if let settling = configuration.settling, let previous, sweeps >= settling.minimumSweeps, previous - rmse < settling.tolerance { break }
        }
        if samples.isEmpty { samples.append(sampler.current) }
        var model = BayesianMF(
            configuration: configuration, userCount: userCount, itemCount: itemCount, samples: samples, knownUsers: knownUsers, knownItems: knownItems
        )
        model.validationTrace = trace
        model.sweeps = sweepsDrawn
        return model
    }

    /// The sum over samples of each validation rating's clipped prediction, as ``predict(user:item:)`` averages it.
    struct RunningValidation {
        let users: [Int32]
        let items: [Int32]
        let actual: [Float]
        let knownUsers: [Bool]
        let knownItems: [Bool]
        let configuration: Configuration
        var sums: [Double]
        var count = 0

        init(_ validation: [Interaction], knownUsers: [Bool], knownItems: [Bool], configuration: Configuration) {
            users = validation.map(\.user)
            items = validation.map(\.item)
            actual = validation.map(\.value)
            self.knownUsers = knownUsers
            self.knownItems = knownItems
            self.configuration = configuration
            sums = .init(repeating: 0, count: validation.count)
        }

        mutating func add(_ sample: Sample) {
            let k = configuration.factors
            let range = configuration.ratingRange
            let (users, items, knownUsers, knownItems) = (users, items, knownUsers, knownItems)
            let threads = configuration.threads
            count += 1
            sums.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                let shared = UncheckedMutablePointer(base)
                ParallelRanges.forEach(users.count, threads: threads) { rows in
                    for row in rows {
                        let user = Int(users[row])
                        let item = Int(items[row])
                        let userKnown = user >= 0 && user < knownUsers.count && knownUsers[user]
                        let itemKnown = item >= 0 && item < knownItems.count && knownItems[item]
                        var value = sample.globalBias
                        if userKnown { value += sample.userBias[user] }
                        if itemKnown { value += sample.itemBias[item] }
                        if userKnown && itemKnown {
                            for f in 0..<k { value += sample.userFactors[user * k + f] * sample.itemFactors[item * k + f] }
                        }
                        shared.pointer[row] += Double(min(range.upperBound, max(range.lowerBound, value)))
                    }
                }
            }
        }

        func rmse() -> Double {
            guard count > 0, !actual.isEmpty else { return 0 }
            var squared: Double = 0
            for row in actual.indices {
                let error = Float(sums[row] / Double(count)) - actual[row]
                squared += Double(error) * Double(error)
            }
            return (squared / Double(actual.count)).squareRoot()
        }
    }

    public func predict(user: Int, item: Int) -> Float {
        let k = configuration.factors
        let userKnown = user >= 0 && user < userCount && knownUsers[user]
        let itemKnown = item >= 0 && item < itemCount && knownItems[item]
        let range = configuration.ratingRange
        var total: Double = 0
        for sample in samples {
            var value = sample.globalBias
            if userKnown { value += sample.userBias[user] }
            if itemKnown { value += sample.itemBias[item] }
            if userKnown && itemKnown {
                for f in 0..<k { value += sample.userFactors[user * k + f] * sample.itemFactors[item * k + f] }
            }
            // Each sample's prediction is clipped to the rating scale before averaging (as libFM does).
            total += Double(min(range.upperBound, max(range.lowerBound, value)))
        }
        return Float(total / Double(samples.count))
    }
}

/// One Gibbs chain: parameters, their hyper-parameters, and the residual of every training rating, updated
/// in place as each parameter is redrawn (so a draw costs the ratings it touches, not all of them).
struct GibbsSampler {
    let configuration: BayesianMF.Configuration
    let users: [Int32]
    let items: [Int32]
    let ratings: [Float]
    /// Rating indices grouped by user and by item (CSR).
    let userStart: [Int]
    let userIndex: [Int32]
    let itemStart: [Int]
    let itemIndex: [Int32]
    var userRows: [Int] { (0..<(userStart.count - 1)).map { userStart[$0 + 1] - userStart[$0] } }
    var itemRows: [Int] { (0..<(itemStart.count - 1)).map { itemStart[$0 + 1] - itemStart[$0] } }
    var current: BayesianMF.Sample
    var residuals: [Float]
    var noisePrecision: Double = 1
    /// The current prior means: biases of users and items, and each factor column of users and items.
    var userBiasMean: Double = 0
    var itemBiasMean: Double = 0
    var userFactorMeans: [Double]
    var itemFactorMeans: [Double]
    var generator: SeededRandom

    init(train: [Interaction], userCount: Int, itemCount: Int, configuration: BayesianMF.Configuration) {
        self.configuration = configuration
        users = train.map(\.user)
        items = train.map(\.item)
        ratings = train.map(\.value)
        (userStart, userIndex) = Self.group(users, count: userCount)
        (itemStart, itemIndex) = Self.group(items, count: itemCount)
        generator = SeededRandom(seed: configuration.seed)
        let k = configuration.factors
        userFactorMeans = .init(repeating: 0, count: k)
        itemFactorMeans = .init(repeating: 0, count: k)
        let scale = Double(configuration.initialScale)
        var generator = generator
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(generator.nextGaussian() * scale) } }
        let mean = train.isEmpty ? 0 : Float(train.reduce(0.0) { $0 + Double($1.value) } / Double(train.count))
        current = .init(
            globalBias: mean, userBias: .init(repeating: 0, count: userCount), itemBias: .init(repeating: 0, count: itemCount),
            userFactors: random(userCount * k), itemFactors: random(itemCount * k)
        )
        self.generator = generator
        residuals = .init(repeating: 0, count: train.count)
        for row in 0..<train.count { residuals[row] = ratings[row] - predict(row: row) }
    }

    static func group(_ keys: [Int32], count: Int) -> (start: [Int], index: [Int32]) {
        var start = [Int](repeating: 0, count: count + 1)
        for key in keys { start[Int(key) + 1] += 1 }
        for position in 0..<count { start[position + 1] += start[position] }
        var next = start
        var index = [Int32](repeating: 0, count: keys.count)
        for (row, key) in keys.enumerated() {
            index[next[Int(key)]] = Int32(row)
            next[Int(key)] += 1
        }
        return (start, index)
    }

    func predict(row: Int) -> Float {
        let k = configuration.factors
        let user = Int(users[row])
        let item = Int(items[row])
        var value = current.globalBias + current.userBias[user] + current.itemBias[item]
        for f in 0..<k { value += current.userFactors[user * k + f] * current.itemFactors[item * k + f] }
        return value
    }

    /// One sweep: noise precision, global bias, then each group's hyper-parameters and parameters.
    mutating func sweep() {
        let k = configuration.factors
        // Noise precision α ~ Gamma((α₀ + n)/2, (β₀ + Σe²)/2), with α₀ = β₀ = 1.
        var squared: Double = 0
        for residual in residuals { squared += Double(residual) * Double(residual) }
        noisePrecision = generator.nextGamma(shape: (1 + Double(residuals.count)) / 2, rate: (1 + squared) / 2)

        // Global bias: every rating, h = 1; a vague N(0, 1) prior.
        do {
            var sum: Double = 0
            for residual in residuals { sum += Double(residual) }
            let old = current.globalBias
            let drawn = drawParameter(current: Double(old), sumResidualTimesH: sum, sumHSquared: Double(residuals.count), mean: 0, precision: 1)
            let delta = Float(drawn) - old
            current.globalBias = Float(drawn)
            for row in residuals.indices { residuals[row] -= delta }
        }

        // Biases: h = 1 on the rows of their user (item).
        // Prior means are copied out and back: a mutating call cannot also take a property of self inout.
        var userPriorMeans = [Float](repeating: 0, count: k + 1)
        var userPriorPrecisions = [Float](repeating: 1, count: k + 1)
        var mean = userBiasMean
        var prior: (mean: Double, precision: Double)
        (current.userBias, prior) = drawBiases(current.userBias, start: userStart, index: userIndex, mean: &mean)
        (userPriorMeans[0], userPriorPrecisions[0]) = (Float(prior.mean), Float(prior.precision))
        userBiasMean = mean
        mean = itemBiasMean
        current.itemBias = drawBiases(current.itemBias, start: itemStart, index: itemIndex, mean: &mean).biases
        itemBiasMean = mean

        // Factors, one factor column at a time: for p_uf the rows of u have h = q_{i,f} (and vice versa).
        for f in 0..<k {
            mean = userFactorMeans[f]
            (current.userFactors, prior) = drawFactors(
                current.userFactors, other: current.itemFactors, otherOf: items, factor: f, start: userStart, index: userIndex, mean: &mean
            )
            (userPriorMeans[f + 1], userPriorPrecisions[f + 1]) = (Float(prior.mean), Float(prior.precision))
            userFactorMeans[f] = mean
            mean = itemFactorMeans[f]
            current.itemFactors = drawFactors(
                current.itemFactors, other: current.userFactors, otherOf: users, factor: f, start: itemStart, index: itemIndex, mean: &mean
            ).factors
            itemFactorMeans[f] = mean
        }
        current.noisePrecision = Float(noisePrecision)
        current.userPriorMeans = userPriorMeans
        current.userPriorPrecisions = userPriorPrecisions
    }

    /// θ' ~ N((α Σ (e + θh) h + μλ) / (α Σh² + λ), 1 / (α Σh² + λ)) given Σ e·h and Σ h² over θ's rows.
    mutating func drawParameter(current theta: Double, sumResidualTimesH: Double, sumHSquared: Double, mean: Double, precision: Double) -> Double {
        Self.posteriorDraw(
            current: theta, sumResidualTimesH: sumResidualTimesH, sumHSquared: sumHSquared, mean: mean, precision: precision,
            noisePrecision: noisePrecision, gaussian: generator.nextGaussian()
        )
    }

    /// ``drawParameter(current:sumResidualTimesH:sumHSquared:mean:precision:)`` with its standard normal draw given.
    static func posteriorDraw(
        current theta: Double, sumResidualTimesH: Double, sumHSquared: Double, mean: Double, precision: Double, noisePrecision: Double, gaussian: Double
    ) -> Double {
        let posteriorPrecision = noisePrecision * sumHSquared + precision
        let posteriorMean = (noisePrecision * (sumResidualTimesH + theta * sumHSquared) + mean * precision) / posteriorPrecision
        return posteriorMean + gaussian / posteriorPrecision.squareRoot()
    }

    /// The group's prior (μ, λ) drawn from its Normal–Gamma posterior given the group's values (α_λ = β_λ =
    /// γ₀ = 1, μ₀ = 0): λ | μ, θ first with the group's current μ, then μ | λ, θ, which becomes current.
    mutating func drawPrior(_ values: some Sequence<Float>, mean currentMean: inout Double) -> (mean: Double, precision: Double) {
        var count: Double = 0
        var sum: Double = 0
        var squares: Double = 0
        for value in values {
            count += 1
            sum += Double(value)
            squares += (Double(value) - currentMean) * (Double(value) - currentMean)
        }
        let precision = generator.nextGamma(shape: (1 + count + 1) / 2, rate: (1 + squares + currentMean * currentMean) / 2)
        currentMean = sum / (count + 1) + generator.nextGaussian() / ((count + 1) * precision).squareRoot()
        return (currentMean, precision)
    }

    mutating func drawBiases(_ biases: [Float], start: [Int], index: [Int32], mean: inout Double) -> (biases: [Float], prior: (mean: Double, precision: Double)) {
        var biases = biases
        let prior = drawPrior(biases, mean: &mean)
        // Each owner's noise in owner order (as one thread would draw it), then the owners in parallel: each
        // owner's rows are its own, so their residual updates never meet.
        let noise = (0..<biases.count).map { _ in generator.nextGaussian() }
        let alpha = noisePrecision
        let threads = configuration.threads
        withSharedPointers(&biases) { b, e in
            ParallelRanges.forEach(noise.count, threads: threads) { owners in
                for owner in owners {
                    let rows = start[owner]..<start[owner + 1]
                    var sum: Double = 0
                    for position in rows { sum += Double(e.pointer[Int(index[position])]) }
                    let old = b.pointer[owner]
                    let drawn = Float(Self.posteriorDraw(
                        current: Double(old), sumResidualTimesH: sum, sumHSquared: Double(rows.count), mean: prior.mean, precision: prior.precision,
                        noisePrecision: alpha, gaussian: noise[owner]
                    ))
                    let delta = drawn - old
                    b.pointer[owner] = drawn
                    for position in rows { e.pointer[Int(index[position])] -= delta }
                }
            }
        }
        return (biases, prior)
    }

    mutating func drawFactors(
        _ factors: [Float], other: [Float], otherOf: [Int32], factor f: Int, start: [Int], index: [Int32], mean: inout Double
    ) -> (factors: [Float], prior: (mean: Double, precision: Double)) {
        let k = configuration.factors
        var factors = factors
        let prior = drawPrior(stride(from: f, to: factors.count, by: k).lazy.map { factors[$0] }, mean: &mean)
        // As in drawBiases: the noise in owner order first, then the owners in parallel over disjoint rows.
        let noise = (0..<(start.count - 1)).map { _ in generator.nextGaussian() }
        let alpha = noisePrecision
        let threads = configuration.threads
        withSharedPointers(&factors) { theta, e in
            other.withUnsafeBufferPointer { otherBuffer in
                otherOf.withUnsafeBufferPointer { otherOfBuffer in
                    index.withUnsafeBufferPointer { indexBuffer in
                        let h = SendablePointer(otherBuffer.baseAddress)
                        let of = SendablePointer(otherOfBuffer.baseAddress)
                        let rowsOf = SendablePointer(indexBuffer.baseAddress)
                        ParallelRanges.forEach(noise.count, threads: threads) { owners in
                            // Empty arrays have no base address; then no owner has rows and these are never read.
                            let h = h.pointer ?? UnsafePointer(bitPattern: 16)!
                            let of = of.pointer ?? UnsafePointer(bitPattern: 16)!
                            let rowsOf = rowsOf.pointer ?? UnsafePointer(bitPattern: 16)!
                            for owner in owners {
                                let rows = start[owner]..<start[owner + 1]
                                var sumResidualTimesH: Double = 0
                                var sumHSquared: Double = 0
                                for position in rows {
                                    let row = Int(rowsOf[position])
                                    let value = Double(h[Int(of[row]) * k + f])
                                    sumResidualTimesH += Double(e.pointer[row]) * value
                                    sumHSquared += value * value
                                }
                                let old = theta.pointer[owner * k + f]
                                let drawn = Float(Self.posteriorDraw(
                                    current: Double(old), sumResidualTimesH: sumResidualTimesH, sumHSquared: sumHSquared, mean: prior.mean,
                                    precision: prior.precision, noisePrecision: alpha, gaussian: noise[owner]
                                ))
                                let delta = drawn - old
                                theta.pointer[owner * k + f] = drawn
                                guard delta != 0 else { continue }
                                for position in rows {
                                    let row = Int(rowsOf[position])
                                    e.pointer[row] -= delta * h[Int(of[row]) * k + f]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (factors, prior)
    }

    /// The parameters being drawn and the residuals as pointers the parallel owners share: each owner writes
    /// only its own parameters and the residuals of its own rows. With no ratings there are no residuals (no
    /// base address; never read then), but every owner is still drawn, from its prior. Nothing to draw: `body`
    /// is not called.
    private mutating func withSharedPointers(_ parameters: inout [Float], _ body: (UncheckedPointer, UncheckedPointer) -> Void) {
        parameters.withUnsafeMutableBufferPointer { parameterBuffer in
        residuals.withUnsafeMutableBufferPointer { residualBuffer in
            guard let parameterBase = parameterBuffer.baseAddress else { return }
            body(UncheckedPointer(parameterBase), UncheckedPointer(residualBuffer.baseAddress ?? UnsafeMutablePointer(bitPattern: 16)!))
        }
        }
    }
}

extension SeededRandom {
    /// Gamma(shape, rate) by Marsaglia & Tsang (2000); shapes below 1 through the boost x·U^(1/shape).
    public mutating func nextGamma(shape: Double, rate: Double) -> Double {
        if shape < 1 {
            let boost = pow(max(nextUnit(), .leastNonzeroMagnitude), 1 / shape)
            return nextGamma(shape: shape + 1, rate: rate) * boost
        }
        let d = shape - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = nextGaussian()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = nextUnit()
            if u < 1 - 0.0331 * x * x * x * x || log(max(u, .leastNonzeroMagnitude)) < 0.5 * x * x + d * (1 - v + log(v)) {
                return d * v / rate
            }
        }
    }
}
