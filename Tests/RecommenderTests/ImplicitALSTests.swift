import Foundation
import Recommender
import Testing

@Suite("Implicit ALS")
struct ImplicitALSTests {
    /// Two taste groups: users 0..<20 like items 0..<10, users 20..<40 like items 10..<20; each user has
    /// seen a random 60 % of their group's items.
    static func plantedGroups(seed: UInt64 = 5) -> [Interaction] {
        var generator = SeededRandom(seed: seed)
        var data: [Interaction] = []
        for user in 0..<40 {
            let group = user < 20 ? 0..<10 : 10..<20
            for item in group where generator.nextUnit() < 0.6 {
                data.append(Interaction(user: Int32(user), item: Int32(item), value: 1))
            }
        }
        return data
    }

    /// For every user, recommends as many items as they have unseen in their own group, and counts how
    /// many of those recommendations are in that group: (in group, total).
    static func inGroup(_ matrix: InteractionMatrix, recommend: (Int, Set<Int32>, Int) -> [Int32]) -> (Int, Int) {
        var inGroup = 0
        var total = 0
        for user in 0..<matrix.userCount {
            let seen = Set(matrix.items(of: user))
            let group = user < 20 ? 0..<10 : 10..<20
            let unseen = group.filter { !seen.contains(Int32($0)) }.count
            guard unseen > 0 else { continue }
            for item in recommend(user, seen, unseen) {
                total += 1
                if group.contains(Int(item)) { inGroup += 1 }
            }
        }
        return (inGroup, total)
    }

    @Test("the same seed gives the same factors, also when rows are solved on two threads")
    func deterministic() {
        let matrix = InteractionMatrix(Self.plantedGroups(), userCount: 40, itemCount: 20)
        var configuration = ImplicitALS.Configuration()
        configuration.factors = 8
        configuration.iterations = 5
        configuration.threads = 2
        let a = ImplicitALS.fit(matrix, configuration: configuration)
        let b = ImplicitALS.fit(matrix, configuration: configuration)
        configuration.threads = 1
        let single = ImplicitALS.fit(matrix, configuration: configuration)
        #expect(a.userFactors == b.userFactors && a.itemFactors == b.itemFactors)
        #expect(a.userFactors == single.userFactors)
    }

    @Test("recommends a user's unseen items from their own taste group")
    func learnsGroups() {
        let data = Self.plantedGroups()
        let matrix = InteractionMatrix(data, userCount: 40, itemCount: 20)
        var configuration = ImplicitALS.Configuration()
        configuration.factors = 2
        configuration.iterations = 15
        configuration.regularization = 0.01
        let model = ImplicitALS.fit(matrix, configuration: configuration)
        let (inGroup, total) = Self.inGroup(matrix) { user, seen, count in model.recommend(user: user, k: count, excluding: seen) }
        // Chance would put half of them in the right group.
        #expect(Double(inGroup) / Double(total) > 0.95, "\(inGroup) of \(total)")
    }

    @Test("with k conjugate-gradient steps a row solve equals the closed-form least-squares solution")
    func conjugateGradientMatchesClosedForm() {
        // One user with 3 observed items, k = 3, item factors fixed.
        let k = 3
        let y: [[Float]] = [[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [-0.1, 0.7, 0.2], [0.9, 0.1, 0.3]]
        let observed: [(item: Int, value: Float)] = [(0, 1), (2, 3), (3, 1)]
        var configuration = ImplicitALS.Configuration()
        configuration.factors = k
        configuration.regularization = 0.1
        configuration.alpha = 2
        configuration.unobservedWeight = 0.5
        configuration.conjugateGradientSteps = k
        configuration.iterations = 1
        // Closed form: A = w0 YᵀY + Σ_obs (c − w0) y yᵀ + λI, b = Σ_obs c y.
        var a = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        var b = [Double](repeating: 0, count: k)
        for row in y { for i in 0..<k { for j in 0..<k { a[i][j] += 0.5 * Double(row[i] * row[j]) } } }
        for (item, value) in observed {
            let c = 1 + 2 * Double(value)
            for i in 0..<k {
                b[i] += c * Double(y[item][i])
                for j in 0..<k { a[i][j] += (c - 0.5) * Double(y[item][i] * y[item][j]) }
            }
        }
        for i in 0..<k { a[i][i] += 0.1 }
        let expected = DenseSolver.solve(a, b)
        // The model's user solve: item factors fixed by running only the user half of one iteration.
        var userFactors: [Float] = [0, 0, 0]
        let itemFactors = y.flatMap { $0 }
        ImplicitALS.solveRowsForTesting(
            into: &userFactors, fixed: itemFactors, offsets: [0, 3], columns: observed.map { Int32($0.item) },
            values: observed.map(\.value), configuration: configuration
        )
        for i in 0..<k { #expect(abs(Double(userFactors[i]) - expected[i]) < 1e-4, "component \(i)") }
    }

    @Test("the C kernels agree with plain Double loops for factor counts off the 8- and 32-lane widths, on two threads",
          arguments: [1, 7, 37, 45])
    func kernelsMatchReference(k: Int) {
        var generator = SeededRandom(seed: UInt64(100 + k))
        let itemCount = 30
        let users = 20
        let y = (0..<(itemCount * k)).map { _ in Float(generator.nextGaussian() * 0.3) }
        var offsets = [0]
        var columns: [Int32] = []
        var values: [Float] = []
        for _ in 0..<users {
            for item in 0..<itemCount where generator.nextUnit() < 0.3 {
                columns.append(Int32(item))
                values.append(Float(1 + generator.next() % 4))
            }
            offsets.append(columns.count)
        }
        var configuration = ImplicitALS.Configuration()
        configuration.factors = k
        configuration.regularization = 0.5
        configuration.alpha = 2
        configuration.unobservedWeight = 0.7
        configuration.conjugateGradientSteps = 4 * k  // CG in exact arithmetic converges in k steps; rounding needs a few more
        configuration.threads = 2
        var x = [Float](repeating: 0, count: users * k)
        ImplicitALS.solveRowsForTesting(into: &x, fixed: y, offsets: offsets, columns: columns, values: values, configuration: configuration)
        for user in 0..<users {
            var a = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
            var b = [Double](repeating: 0, count: k)
            for item in 0..<itemCount {
                for i in 0..<k { for j in 0..<k { a[i][j] += 0.7 * Double(y[item * k + i]) * Double(y[item * k + j]) } }
            }
            for index in offsets[user]..<offsets[user + 1] {
                let item = Int(columns[index])
                let c = 1 + 2 * Double(values[index])
                for i in 0..<k {
                    b[i] += c * Double(y[item * k + i])
                    for j in 0..<k { a[i][j] += (c - 0.7) * Double(y[item * k + i]) * Double(y[item * k + j]) }
                }
            }
            for i in 0..<k { a[i][i] += 0.5 }
            let expected = DenseSolver.solve(a, b)
            for f in 0..<k {
                #expect(abs(Double(x[user * k + f]) - expected[f]) < 1e-3 * max(1, abs(expected[f])), "k \(k) user \(user) factor \(f)")
            }
        }
        // Catalog scoring: x · y_i for every item.
        let model = ImplicitALS(configuration: configuration, userCount: users, itemCount: itemCount, userFactors: x, itemFactors: y)
        var scores = [Float](repeating: 0, count: itemCount)
        x.withUnsafeBufferPointer { all in
            scores.withUnsafeMutableBufferPointer { model.scoreAll(userVector: UnsafeBufferPointer(rebasing: all[0..<k]), into: $0) }
        }
        for item in 0..<itemCount {
            let expected = (0..<k).reduce(0.0) { $0 + Double(x[$1]) * Double(y[item * k + $1]) }
            #expect(abs(Double(scores[item]) - expected) < 1e-4 * max(1, abs(expected)), "k \(k) item \(item)")
        }
    }
}

@Suite("Fold-in")
struct FoldInTests {
    @Test("folding in a training user's history reproduces that user's trained factors closely")
    func reproducesTrainedUser() {
        let data = ImplicitALSTests.plantedGroups()
        let matrix = InteractionMatrix(data, userCount: 40, itemCount: 20)
        var configuration = ImplicitALS.Configuration()
        configuration.factors = 4
        configuration.iterations = 30
        configuration.regularization = 0.1
        let model = ImplicitALS.fit(matrix, configuration: configuration)
        for user in [0, 7, 25, 39] {
            let history = zip(matrix.items(of: user), matrix.values(of: user)).map { (item: $0, value: $1) }
            let folded = model.foldIn(history)
            let trained = Array(model.userFactors[(user * 4)..<((user + 1) * 4)])
            let dot = zip(folded, trained).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let norms = (folded.reduce(Float(0)) { $0 + $1 * $1 } * trained.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
            #expect(dot / norms > 0.99, "user \(user): cosine \(dot / norms)")
            let relativeLength = folded.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot() / trained.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(relativeLength - 1) < 0.05, "user \(user): length ratio \(relativeLength)")
        }
    }

    @Test("fold-in's early stop (residual down 10⁴) ranks like the exact solve: same top 20, cosine > 0.9999")
    func earlyStopKeepsTheRanking() {
        var generator = SeededRandom(seed: 21)
        var data: [Interaction] = []
        for user in 0..<300 {
            for _ in 0..<(5 + Int(generator.next() % 60)) {
                // Skewed popularity, as in real catalogs.
                let item = Int32(Double(400) * pow(generator.nextUnit(), 2))
                data.append(Interaction(user: Int32(user), item: item, value: Float(1 + generator.next() % 3)))
            }
        }
        let matrix = InteractionMatrix(data, userCount: 300, itemCount: 400)
        var configuration = ImplicitALS.Configuration()
        configuration.factors = 64
        configuration.iterations = 3
        configuration.regularization = 1
        configuration.threads = 1
        let model = ImplicitALS.fit(matrix, configuration: configuration)
        var exactConfiguration = configuration
        exactConfiguration.conjugateGradientSteps = configuration.factors
        for user in [0, 50, 123, 299] {
            let history = zip(matrix.items(of: user), matrix.values(of: user)).map { (item: $0, value: $1) }
            let folded = model.foldIn(history)
            var exact = [Float](repeating: 0, count: 64)
            ImplicitALS.solveRowsForTesting(
                into: &exact, fixed: model.itemFactors, offsets: [0, history.count], columns: history.map(\.item), values: history.map(\.value),
                configuration: exactConfiguration
            )
            let dot = zip(folded, exact).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let norms = (folded.reduce(Float(0)) { $0 + $1 * $1 } * exact.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
            #expect(dot / norms > 0.9999, "user \(user): cosine \(dot / norms)")
            let seen = Set(history.map(\.item))
            #expect(model.recommend(vector: folded, k: 20, excluding: seen) == model.recommend(vector: exact, k: 20, excluding: seen), "user \(user)")
        }
    }

    @Test("a brand-new user is personalised from a few events; unknown items are ignored")
    func newUser() {
        let matrix = InteractionMatrix(ImplicitALSTests.plantedGroups(), userCount: 40, itemCount: 20)
        var configuration = ImplicitALS.Configuration()
        configuration.factors = 2
        configuration.iterations = 15
        configuration.regularization = 0.01
        let model = ImplicitALS.fit(matrix, configuration: configuration)
        let vector = model.foldIn([(item: 12, value: 1), (item: 15, value: 1), (item: 999, value: 1)])
        let top = model.recommend(vector: vector, k: 5, excluding: [12, 15])
        #expect(top.allSatisfy { (10..<20).contains(Int($0)) }, "\(top)")
    }
}
