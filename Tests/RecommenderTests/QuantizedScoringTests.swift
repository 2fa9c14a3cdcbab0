import Recommender
import Testing

@Suite("Quantized catalog scoring")
struct QuantizedScoringTests {
    /// A model with factors of the given count: items' norms spread over two orders of magnitude, a few zero
    /// items, and `duplicates` copies of item 0's factors (exact ties in every score).
    static func randomModel(items: Int, factors: Int, users: Int = 50, duplicates: Int = 0, seed: UInt64 = 9) -> ImplicitALS {
        var generator = SeededRandom(seed: seed)
        var configuration = ImplicitALS.Configuration()
        configuration.factors = factors
        let userFactors = (0..<(users * factors)).map { _ in Float(generator.nextGaussian()) }
        var itemFactors: [Float] = []
        for item in 0..<items {
            let norm = item % 97 == 5 ? 0 : Float(0.05 + generator.nextUnit() * 3)
            itemFactors += (0..<factors).map { _ in norm * Float(generator.nextGaussian()) }
        }
        for copy in 0..<duplicates {
            let target = 1 + copy * 7
            for f in 0..<factors { itemFactors[target * factors + f] = itemFactors[f] }
        }
        return ImplicitALS(configuration: configuration, userCount: users, itemCount: items, userFactors: userFactors, itemFactors: itemFactors)
    }

    static func scores(_ model: ImplicitALS, _ vector: [Float]) -> [Float] {
        var scores = [Float](repeating: 0, count: model.itemCount)
        vector.withUnsafeBufferPointer { v in scores.withUnsafeMutableBufferPointer { model.scoreAll(userVector: v, into: $0) } }
        return scores
    }

    static func vector(_ model: ImplicitALS, user: Int) -> [Float] {
        let k = model.configuration.factors
        return Array(model.userFactors[(user * k)..<((user + 1) * k)])
    }

    @Test("every item's bound is at or above the score served for it; the CPU's kernel and the portable one agree bit for bit", arguments: [8, 13, 64, 100])
    func boundsHold(factors: Int) throws {
        let model = Self.randomModel(items: 1_003, factors: factors)
        let quantized = try #require(QuantizedItemFactors(model))
        for user in 0..<model.userCount {
            let vector = Self.vector(model, user: user).map { $0 * (user % 2 == 0 ? 1 : 1e-3) }
            let exact = Self.scores(model, vector)
            let fast = try #require(quantized.upperBoundsForTesting(vector, portable: false))
            let portable = try #require(quantized.upperBoundsForTesting(vector, portable: true))
            #expect(fast.upper.map(\.bitPattern) == portable.upper.map(\.bitPattern) && fast.lowest.bitPattern == portable.lowest.bitPattern)
            #expect(fast.upper.count == model.itemCount && fast.lowest == fast.upper.min())
            #expect(zip(fast.upper, exact).allSatisfy { $0 >= $1 }, "factors \(factors) user \(user)")
            // Not vacuous: the bound is within a few percent of the score's range.
            let range = exact.max()! - exact.min()!
            let widest = zip(fast.upper, exact).map { $0 - $1 }.max()!
            #expect(widest < 0.1 * range, "factors \(factors) user \(user): \(widest) of \(range)")
        }
        #expect(quantized.upperBoundsForTesting([Float](repeating: 0, count: factors), portable: false) == nil)
    }

    @Test("the top items are those of scoring every item: the same indices, scores and order, ties to the lower index, with exclusions", arguments: [1, 10, 100])
    func sameAsFullScoring(k: Int) throws {
        let model = Self.randomModel(items: 20_011, factors: 64, users: 60, duplicates: 30)
        let quantized = try #require(QuantizedItemFactors(model))
        var generator = SeededRandom(seed: 3)
        var answered = 0
        for user in 0..<model.userCount {
            // Users 0..<10 get item 0's direction: the 31 tied copies rank first.
            var vector = Self.vector(model, user: user)
            if user < 10 { vector = Array(model.itemFactors[0..<64]) }
            let excluded = Set((0..<500).map { _ in Int(generator.next() % UInt64(model.itemCount)) })
            let expected = TopK.select(Self.scores(model, vector), k: k) { excluded.contains($0) }
            let fast = vector.withUnsafeBufferPointer { model.topItems(vector: $0, k: k, quantized: quantized) { excluded.contains($0) } }
            guard let fast else { continue }
            answered += 1
            #expect(fast.map(\.index) == expected.map(\.index), "user \(user)")
            #expect(fast.map(\.score.bitPattern) == expected.map(\.score.bitPattern), "user \(user)")
        }
        // Left to the full pass only where not proven at once or after widening: none here.
        #expect(answered == model.userCount)
    }

    @Test("a fitted model: every user's top 10 unseen items equal those of scoring every item")
    func fittedModel() throws {
        // 1 500 users in 30 taste groups over 12 000 items with long-tailed popularity.
        var generator = SeededRandom(seed: 11)
        let users = 1_500, items = 12_000, groups = 30
        var data: [Interaction] = []
        for user in 0..<users {
            let group = user % groups
            var seen = Set<Int32>()
            for _ in 0..<40 {
                let inGroup = generator.nextUnit() < 0.7
                let u = generator.nextUnit()
                let rank = Int(u * u * u * Double(items / groups))
                let item = Int32(inGroup ? (group + rank * groups) % items : Int(generator.next() % UInt64(items)))
                if seen.insert(item).inserted { data.append(Interaction(user: Int32(user), item: item, value: 1)) }
            }
        }
        let matrix = InteractionMatrix(data, userCount: users, itemCount: items)
        var configuration = ImplicitALS.Configuration()
        configuration.iterations = 6
        let model = ImplicitALS.fit(matrix, configuration: configuration)
        let quantized = try #require(QuantizedItemFactors(model))
        var answered = 0
        for user in 0..<users {
            let seen = Set(matrix.items(of: user))
            let vector = Self.vector(model, user: user)
            let expected = TopK.select(Self.scores(model, vector), k: 10) { seen.contains(Int32($0)) }
            guard let fast = vector.withUnsafeBufferPointer({ model.topItems(vector: $0, k: 10, quantized: quantized) { seen.contains(Int32($0)) } }) else { continue }
            answered += 1
            #expect(fast.map(\.index) == expected.map(\.index) && fast.map(\.score) == expected.map(\.score), "user \(user)")
        }
        #expect(answered == users)
    }

    @Test("left to the full pass: a zero vector, and a catalog whose scores are all alike")
    func declines() throws {
        let model = Self.randomModel(items: 300, factors: 8)
        let quantized = try #require(QuantizedItemFactors(model))
        let zero = [Float](repeating: 0, count: 8)
        #expect(zero.withUnsafeBufferPointer { model.topItems(vector: $0, k: 5, quantized: quantized) { _ in false } } == nil)
        var configuration = ImplicitALS.Configuration()
        configuration.factors = 8
        let flat = ImplicitALS(
            configuration: configuration, userCount: 1, itemCount: 300, userFactors: [Float](repeating: 1, count: 8),
            itemFactors: [Float](repeating: 0.5, count: 300 * 8)
        )
        let flatQuantized = try #require(QuantizedItemFactors(flat))
        let vector = [Float](repeating: 1, count: 8)
        #expect(vector.withUnsafeBufferPointer { flat.topItems(vector: $0, k: 5, quantized: flatQuantized) { _ in false } } == nil)
    }
}
