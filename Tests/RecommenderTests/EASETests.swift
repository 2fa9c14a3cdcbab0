import Recommender
import Testing

@Suite("EASE")
struct EASETests {
    @Test("weights solve the closed form: B = I − P·diag(1/diag P) with P = (XᵀX + λI)⁻¹, zero diagonal")
    func closedForm() {
        // 3 items, users {0,1}, {1,2}, {0,1,2}; λ = 1. G = XᵀX + I.
        let data: [Interaction] = [
            .init(user: 0, item: 0, value: 1), .init(user: 0, item: 1, value: 1),
            .init(user: 1, item: 1, value: 1), .init(user: 1, item: 2, value: 1),
            .init(user: 2, item: 0, value: 1), .init(user: 2, item: 1, value: 1), .init(user: 2, item: 2, value: 1),
        ]
        var configuration = EASE.Configuration()
        configuration.regularization = 1
        let model = EASE.fit(InteractionMatrix(data, userCount: 3, itemCount: 3), configuration: configuration)
        // G = [[3,2,1],[2,4,2],[1,2,3]]; check G·B = G − G·P·D = G − D (as G·P = I), column by column:
        // (G·B)_ij = G_ij − δ_ij / P_jj for the diagonal-corrected B; verify via B's defining equations
        // B_ij = −P_ij / P_jj, computing P independently by cofactors.
        let g: [[Double]] = [[3, 2, 1], [2, 4, 2], [1, 2, 3]]
        let det = g[0][0] * (g[1][1] * g[2][2] - g[1][2] * g[2][1]) - g[0][1] * (g[1][0] * g[2][2] - g[1][2] * g[2][0]) + g[0][2] * (g[1][0] * g[2][1] - g[1][1] * g[2][0])
        func cofactor(_ i: Int, _ j: Int) -> Double {
            let rows = [0, 1, 2].filter { $0 != i }
            let columns = [0, 1, 2].filter { $0 != j }
            let minor = g[rows[0]][columns[0]] * g[rows[1]][columns[1]] - g[rows[0]][columns[1]] * g[rows[1]][columns[0]]
            return ((i + j) % 2 == 0 ? 1 : -1) * minor
        }
        let p = (0..<3).map { i in (0..<3).map { j in cofactor(j, i) / det } }
        for i in 0..<3 {
            for j in 0..<3 {
                let expected = i == j ? 0 : -p[i][j] / p[j][j]
                #expect(abs(Double(model.weights[i * 3 + j]) - expected) < 1e-5, "B[\(i)][\(j)]")
            }
        }
    }

    @Test("the blocked inversion (several blocks of pivots, two threads) gives the closed form, as one pivot at a time does")
    func blockedInversionMatchesTheClosedForm() {
        // 150 items: three blocks of 64 pivots (the last one short), rows split over two threads.
        let itemCount = 150
        var generator = SeededRandom(seed: 5)
        var data: [Interaction] = []
        for user in 0..<400 {
            var items = Set<Int32>()
            for _ in 0..<(5 + Int(generator.next() % 40)) { items.insert(Int32(generator.next() % UInt64(itemCount))) }
            for item in items.sorted() { data.append(.init(user: Int32(user), item: item, value: generator.nextUnit() < 0.2 ? 0.3 : 1)) }
        }
        var configuration = EASE.Configuration()
        configuration.regularization = 20
        let model = EASE.fit(InteractionMatrix(data, userCount: 400, itemCount: itemCount), configuration: configuration)
        // The reference in Double: G = XᵀX + λI, inverted one pivot at a time.
        let n = itemCount
        var g = [Double](repeating: 0, count: n * n)
        var rows: [Int32: [(Int, Double)]] = [:]
        for interaction in data { rows[interaction.user, default: []].append((Int(interaction.item), Double(interaction.value))) }
        for row in rows.values { for (a, x) in row { for (b, y) in row { g[a * n + b] += x * y } } }
        for i in 0..<n { g[i * n + i] += 20 }
        for k in 0..<n {
            let inverse = 1 / g[k * n + k]
            for j in 0..<n { g[k * n + j] *= inverse }
            g[k * n + k] = inverse
            for i in 0..<n where i != k {
                let factor = g[i * n + k]
                for j in 0..<n { g[i * n + j] -= factor * g[k * n + j] }
                g[i * n + k] = -factor * inverse
            }
        }
        var worst = 0.0
        for i in 0..<n {
            for j in 0..<n {
                let expected = i == j ? 0 : -g[i * n + j] / g[j * n + j]
                worst = max(worst, abs(Double(model.weights[i * n + j]) - expected))
            }
        }
        #expect(worst < 1e-4, "largest difference from the closed form: \(worst)")
    }

    @Test("recommends unseen items of the user's own taste group")
    func learnsGroups() {
        let data = ImplicitALSTests.plantedGroups()
        let matrix = InteractionMatrix(data, userCount: 40, itemCount: 20)
        var configuration = EASE.Configuration()
        configuration.regularization = 5
        let model = EASE.fit(matrix, configuration: configuration)
        let (inGroup, total) = ImplicitALSTests.inGroup(matrix) { user, seen, count in
            model.recommend(history: matrix.items(of: user), k: count, excluding: seen)
        }
        #expect(Double(inGroup) / Double(total) > 0.95, "\(inGroup) of \(total)")
    }
}

@Suite("Score blend")
struct ScoreBlendTests {
    @Test("weight 1 keeps the first model's order, 0 the second's; scales do not matter")
    func blend() {
        let first: [Float] = [1, 5, 3, 2]
        let second: [Float] = [400, 100, 300, 200]  // other scale, other order
        func order(_ weight: Float) -> [Int] {
            var out = [Float](repeating: 0, count: 4)
            first.withUnsafeBufferPointer { a in
                second.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { ScoreBlend(weight: weight).combine(a, b, into: $0) }
                }
            }
            return TopK.select(out, k: 4).map(\.index)
        }
        #expect(order(1) == [1, 2, 3, 0])
        #expect(order(0) == [0, 2, 3, 1])
        // Multiplying one model's scores by 1000 changes nothing after standardisation.
        var scaled = [Float](repeating: 0, count: 4)
        var plain = [Float](repeating: 0, count: 4)
        let big = first.map { $0 * 1000 }
        big.withUnsafeBufferPointer { a in second.withUnsafeBufferPointer { b in scaled.withUnsafeMutableBufferPointer { ScoreBlend(weight: 0.5).combine(a, b, into: $0) } } }
        first.withUnsafeBufferPointer { a in second.withUnsafeBufferPointer { b in plain.withUnsafeMutableBufferPointer { ScoreBlend(weight: 0.5).combine(a, b, into: $0) } } }
        for index in 0..<4 { #expect(abs(scaled[index] - plain[index]) < 1e-4) }
    }
}
