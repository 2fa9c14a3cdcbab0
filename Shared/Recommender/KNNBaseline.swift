/// Item-based k-nearest-neighbours on baseline residuals (Koren 2010, "KNNBaseline" in Surprise):
/// `r̂(u, i) = b_ui + Σ_j s_ij (r_uj − b_uj) / Σ_j s_ij` over the k items j the user rated that are most
/// similar to i, with `b_ui = μ + b_u + b_i` fitted by alternating least squares and `s_ij` the
/// shrunk Pearson correlation of baseline residuals over the users who rated both.
public struct KNNBaseline: RatingPredictor, Sendable {
    public struct Configuration: Sendable, Hashable {
        public var neighbours: Int = 40
        public var shrinkage: Float = 100
        public var userBiasRegularization: Float = 15
        public var itemBiasRegularization: Float = 10
        public var baselineIterations: Int = 10
        public var ratingRange: ClosedRange<Float> = 0.5...5.0
        public init() {}
    }

    public let configuration: Configuration
    public let userCount: Int
    public let itemCount: Int
    public let globalMean: Float
    public let userBias: [Float]
    public let itemBias: [Float]
    /// Row-major `itemCount × itemCount` shrunk similarities (symmetric).
    let similarity: [Float]
    let ratings: InteractionMatrix

    public static func fit(_ train: [Interaction], userCount: Int, itemCount: Int, configuration: Configuration = Configuration()) -> KNNBaseline {
        let matrix = InteractionMatrix(train, userCount: userCount, itemCount: itemCount)
        let mean = Float(train.reduce(0.0) { $0 + Double($1.value) } / Double(max(1, train.count)))
        var bu = [Float](repeating: 0, count: userCount)
        var bi = [Float](repeating: 0, count: itemCount)
        // Baselines by alternating least squares (closed form per user / item).
        for _ in 0..<configuration.baselineIterations {
            for item in 0..<itemCount {
                let users = matrix.users(of: item)
                guard !users.isEmpty else { continue }
                var sum: Float = 0
                for (offset, user) in users.enumerated() {
                    sum += matrix.itemValues[matrix.itemOffsets[item] + offset] - mean - bu[Int(user)]
                }
                bi[item] = sum / (configuration.itemBiasRegularization + Float(users.count))
            }
            for user in 0..<userCount {
                let items = matrix.items(of: user)
                guard !items.isEmpty else { continue }
                var sum: Float = 0
                for (item, value) in zip(items, matrix.values(of: user)) { sum += value - mean - bi[Int(item)] }
                bu[user] = sum / (configuration.userBiasRegularization + Float(items.count))
            }
        }
        // Pearson correlation of residuals over common users, accumulated user by user.
        let n = itemCount
        var products = [Float](repeating: 0, count: n * n)
        var squaresA = [Float](repeating: 0, count: n * n)
        var squaresB = [Float](repeating: 0, count: n * n)
        var counts = [Int32](repeating: 0, count: n * n)
        for user in 0..<userCount {
            let items = Array(matrix.items(of: user))
            let residuals = zip(items, matrix.values(of: user)).map { $1 - mean - bu[user] - bi[Int($0)] }
            for a in 0..<items.count {
                let rowA = Int(items[a]) * n
                let ra = residuals[a]
                for b in 0..<items.count {
                    let index = rowA + Int(items[b])
                    products[index] += ra * residuals[b]
                    squaresA[index] += ra * ra
                    squaresB[index] += residuals[b] * residuals[b]
                    counts[index] += 1
                }
            }
        }
        var similarity = [Float](repeating: 0, count: n * n)
        for index in 0..<(n * n) where counts[index] > 1 {
            let denominator = (squaresA[index] * squaresB[index]).squareRoot()
            guard denominator > 0 else { continue }
            let shrink = Float(counts[index] - 1) / (Float(counts[index] - 1) + configuration.shrinkage)
            similarity[index] = products[index] / denominator * shrink
        }
        for item in 0..<n { similarity[item * n + item] = 0 }
        return KNNBaseline(
            configuration: configuration, userCount: userCount, itemCount: itemCount, globalMean: mean,
            userBias: bu, itemBias: bi, similarity: similarity, ratings: matrix
        )
    }

    public func baseline(user: Int, item: Int) -> Float {
        var value = globalMean
        if user >= 0 && user < userCount { value += userBias[user] }
        if item >= 0 && item < itemCount { value += itemBias[item] }
        return value
    }

    public func predict(user: Int, item: Int) -> Float {
        var prediction = baseline(user: user, item: item)
        if user >= 0, user < userCount, item >= 0, item < itemCount {
            // The k most similar items the user rated (positive similarity only, as Surprise's max-heap does
            // with all; negative ones rarely help and destabilise the weighted mean).
            var neighbours: [(similarity: Float, residual: Float)] = []
            for (rated, value) in zip(ratings.items(of: user), ratings.values(of: user)) {
                let s = similarity[item * itemCount + Int(rated)]
                if s > 0 { neighbours.append((s, value - baseline(user: user, item: Int(rated)))) }
            }
            if neighbours.count > configuration.neighbours {
                neighbours.sort { $0.similarity > $1.similarity }
                neighbours.removeLast(neighbours.count - configuration.neighbours)
            }
            var weighted: Float = 0
            var total: Float = 0
            for neighbour in neighbours {
                weighted += neighbour.similarity * neighbour.residual
                total += neighbour.similarity
            }
            if total > 0 { prediction += weighted / total }
        }
        return min(max(prediction, configuration.ratingRange.lowerBound), configuration.ratingRange.upperBound)
    }
}

/// A linear blend of rating predictors, `w₀ + Σ w_m · prediction_m`, with weights fitted by least
/// squares on a validation split (never on test).
public struct RatingBlend: Sendable, Hashable {
    public let weights: [Double]

    /// Fits weights from validation predictions (one array per model) against the true ratings, with a
    /// small ridge term for stability.
    public static func fit(predictions: [[Double]], actual: [Double], ridge: Double = 1e-3) -> RatingBlend {
        let m = predictions.count + 1
        var a = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
        var b = [Double](repeating: 0, count: m)
        for row in 0..<actual.count {
            let features = [1.0] + predictions.map { $0[row] }
            for i in 0..<m {
                b[i] += features[i] * actual[row]
                for j in 0..<m { a[i][j] += features[i] * features[j] }
            }
        }
        for i in 1..<m { a[i][i] += ridge * Double(actual.count) }
        return RatingBlend(weights: DenseSolver.solve(a, b))
    }

    public func combine(_ predictions: [Double]) -> Double {
        zip(weights, [1.0] + predictions).reduce(0) { $0 + $1.0 * $1.1 }
    }
}
