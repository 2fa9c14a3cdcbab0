/// SVD++ (Koren 2008): biased MF plus implicit feedback from which items a user rated,
/// `r̂(u, i) = μ + b_u + b_i + q_i · (p_u + |N(u)|^(-1/2) Σ_{j ∈ N(u)} y_j)`, trained by SGD user by user
/// (the implicit sum is computed once per user and its gradient applied after the user's ratings).
public struct SVDPlusPlus: RatingPredictor, Sendable {
    public struct Configuration: Sendable, Hashable {
        public var factors: Int = 32
        public var maximumEpochs: Int = 40
        public var learningRate: Float = 0.007
        public var regularization: Float = 0.05
        public var biasRegularization: Float = 0.01
        public var initialScale: Float = 0.1
        public var patience: Int = 3
        public var seed: UInt64 = 42
        public var ratingRange: ClosedRange<Float> = 0.5...5.0
        public init() {}
    }

    public let configuration: Configuration
    public let userCount: Int
    public let itemCount: Int
    var mean: Float
    var bu: [Float]
    var bi: [Float]
    var p: [Float]
    var q: [Float]
    var y: [Float]
    /// Items each user rated in training (the implicit feedback N(u)).
    let rated: InteractionMatrix

    public static func fit(
        train: [Interaction], validation: [Interaction] = [], userCount: Int, itemCount: Int, configuration: Configuration = .init()
    ) -> (model: SVDPlusPlus, bestEpoch: Int) {
        var generator = SeededRandom(seed: configuration.seed)
        let k = configuration.factors
        let scale = Double(configuration.initialScale)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(generator.nextGaussian() * scale) } }
        let matrix = InteractionMatrix(train, userCount: userCount, itemCount: itemCount)
        var model = SVDPlusPlus(
            configuration: configuration, userCount: userCount, itemCount: itemCount,
            mean: Float(train.reduce(0.0) { $0 + Double($1.value) } / Double(max(1, train.count))),
            bu: [Float](repeating: 0, count: userCount), bi: [Float](repeating: 0, count: itemCount),
            p: random(userCount * k), q: random(itemCount * k), y: random(itemCount * k), rated: matrix
        )
        var best = model
        var bestRMSE = Double.infinity
        var bestEpoch = 0
        var users = Array(0..<userCount)
        for epoch in 0..<configuration.maximumEpochs {
            users.shuffle(using: &generator)
            for user in users { model.train(user: user) }
            guard !validation.isEmpty else { continue }
            let rmse = model.rmse(on: validation)
            if rmse < bestRMSE {
                bestRMSE = rmse
                best = model
                bestEpoch = epoch
            } else if epoch - bestEpoch >= configuration.patience {
                break
            }
        }
        return (validation.isEmpty ? model : best, bestEpoch)
    }

    private mutating func train(user: Int) {
        let k = configuration.factors
        let items = rated.items(of: user)
        guard !items.isEmpty else { return }
        let lr = configuration.learningRate
        let reg = configuration.regularization
        let breg = configuration.biasRegularization
        let norm = 1 / Float(items.count).squareRoot()
        var implicitSum = [Float](repeating: 0, count: k)
        for j in items { for f in 0..<k { implicitSum[f] += y[Int(j) * k + f] } }
        var gradientY = [Float](repeating: 0, count: k)
        for (item, value) in zip(items, rated.values(of: user)) {
            let i = Int(item)
            var dot: Float = 0
            for f in 0..<k { dot += q[i * k + f] * (p[user * k + f] + norm * implicitSum[f]) }
            let error = value - (mean + bu[user] + bi[i] + dot)
            bu[user] += lr * (error - breg * bu[user])
            bi[i] += lr * (error - breg * bi[i])
            for f in 0..<k {
                let pu = p[user * k + f]
                let qi = q[i * k + f]
                p[user * k + f] += lr * (error * qi - reg * pu)
                q[i * k + f] += lr * (error * (pu + norm * implicitSum[f]) - reg * qi)
                gradientY[f] += error * norm * qi
            }
        }
        // The implicit factors move once per user, by the accumulated gradient.
        let steps = Float(items.count)
        for j in items {
            for f in 0..<k {
                let value = y[Int(j) * k + f]
                y[Int(j) * k + f] += lr * (gradientY[f] / steps - reg * value)
            }
        }
    }

    public func predict(user: Int, item: Int) -> Float {
        var prediction = mean
        let knownUser = user >= 0 && user < userCount
        let knownItem = item >= 0 && item < itemCount
        if knownUser { prediction += bu[user] }
        if knownItem { prediction += bi[item] }
        if knownUser, knownItem {
            let k = configuration.factors
            let items = rated.items(of: user)
            let norm = items.isEmpty ? 0 : 1 / Float(items.count).squareRoot()
            var dot: Float = 0
            for f in 0..<k {
                var implicitSum: Float = 0
                for j in items { implicitSum += y[Int(j) * k + f] }
                dot += q[item * k + f] * (p[user * k + f] + norm * implicitSum)
            }
            prediction += dot
        }
        return min(max(prediction, configuration.ratingRange.lowerBound), configuration.ratingRange.upperBound)
    }

}
