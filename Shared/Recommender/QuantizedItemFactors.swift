import CRecommenderKernels

/// An implicit-ALS model's item factors in 8 bits (one scale per item), for a first pass over a large
/// catalog that bounds every item's score from above; the few items whose bound can reach the top are
/// then scored exactly from the float factors (``ImplicitALS/topItems(vector:k:quantized:excluded:)``).
///
/// Scoring every item of a 60 000-item, 64-factor catalog reads 15 MB of floats per request; these are
/// 3.8 MB, summed in integers (the request's vector in 16 bits): 16 multiply-adds per AVX2 instruction,
/// exact, so the bound below holds on any CPU. Pure and deterministic.
///
/// Why the bound holds. With y_f = s·q_f + δ_f (|q_f| ≤ 127, |δ_f| ≤ d, d measured per item) and
/// x_f = t·p_f + ε_f (p_f the vector in 16 bits, |ε_f| ≤ e), the exact dot product is
/// x·y = s·t·Σ p_f q_f + s·Σ ε_f q_f + Σ x_f δ_f, so |x·y − s·t·P| ≤ ‖x‖₁·d + e·s·Σ|q_f|. The float dot
/// product the model serves (``ImplicitALS/scoreAll(userVector:into:)``) is within n·2⁻²⁴·Σ|x_f||y_f| ≤
/// 2⁻¹⁸·‖x‖₁·127·s of the exact one for n ≤ 64 factors (2⁻¹⁷ for up to 128; the margin below allows 2⁻¹⁰·‖x‖₁·s
/// per 64 factors, covering also the float steps of the bound itself). So each item's upper bound is
/// s·t·P + ‖x‖₁·radius + e·spread, with radius = d + margin·s and spread = s·Σ|q_f|, both per item.
public struct QuantizedItemFactors: Sendable {
    public let itemCount: Int
    public let factors: Int
    /// Factor pairs per item (factors rounded up to an even count; the padding is zero).
    let pairCount: Int
    /// Items in blocks of 8 (the last padded with zero items): per block, per factor pair, 16 values
    /// (item 0's two, item 1's two, …), the layout the AVX2 kernel multiplies eight items at a time in.
    let blocks: [Int8]
    /// Per item (padded to the blocks): the scale s (max |y_f| / 127), the radius, the spread.
    let scales: [Float]
    let radius: [Float]
    let spread: [Float]

    var blockCount: Int { (itemCount + 7) / 8 }

    /// Whether this CPU runs the first pass's wide kernel (AVX2). Without it the first pass is portable but
    /// slower than scoring the floats, so servers build no quantized factors there.
    public static var isAccelerated: Bool { sr_quantized_scoring_accelerated() != 0 }

    /// The most factors quantized: the integer sums stay exact in 32 bits (256 · 127 · 32 767 < 2³¹).
    public static let maximumFactors = 256

    /// Nil for a model of more than ``maximumFactors`` factors.
    public init?(_ model: ImplicitALS) {
        let k = model.configuration.factors
        guard k <= Self.maximumFactors else { return nil }
        let pairs = (k + 1) / 2
        let padded = (model.itemCount + 7) / 8 * 8
        var blocks = [Int8](repeating: 0, count: padded * pairs * 2)
        var scales = [Float](repeating: 0, count: padded)
        // The padding's bound is infinite: never the lowest bound (see ``upperBounds(_:portable:)``); it is
        // cut off before any selection.
        var radius = [Float](repeating: 0, count: model.itemCount) + [Float](repeating: .infinity, count: padded - model.itemCount)
        var spread = [Float](repeating: 0, count: padded)
        // Float rounding of the served dot product and of the bound's own steps, per unit of ‖x‖₁·s: 2⁻¹⁰ per
        // 64 factors (over twice what the analysis above needs).
        let margin = Double(max(64, k)) / 64 / 1024
        model.itemFactors.withUnsafeBufferPointer { y in
            for item in 0..<model.itemCount {
                let row = UnsafeBufferPointer(rebasing: y[(item * k)..<((item + 1) * k)])
                // `max` passes NaN over, so a NaN factor is caught by its own check.
                let largest = row.reduce(Float(0)) { max($0, abs($1)) }
                guard largest.isFinite, row.allSatisfy(\.isFinite) else {
                    // Never pruned: an infinite radius puts the item among the candidates, scored exactly.
                    radius[item] = .infinity
                    continue
                }
                guard largest > 0 else { continue }
                let scale = largest / 127
                var deviation = 0.0
                var total = 0
                let base = (item / 8) * pairs * 16 + (item % 8) * 2
                for f in 0..<k {
                    let q = Int(max(-127, min(127, (row[f] / scale).rounded())))
                    blocks[base + (f / 2) * 16 + (f % 2)] = Int8(q)
                    deviation = max(deviation, abs(Double(row[f]) - Double(scale) * Double(q)))
                    total += abs(q)
                }
                scales[item] = scale
                radius[item] = Float(deviation + margin * Double(scale)).nextUp
                spread[item] = Float(Double(scale) * Double(total)).nextUp
            }
        }
        itemCount = model.itemCount
        factors = k
        pairCount = pairs
        self.blocks = blocks
        self.scales = scales
        self.radius = radius
        self.spread = spread
    }

    /// The vector in 16 bits (p_f, padded to the pairs), its scale t, ‖x‖₁ and e (rounded up); nil for a
    /// vector that is zero or not finite (left to the full float pass).
    func quantize(_ vector: UnsafeBufferPointer<Float>) -> (values: [Int16], scale: Float, l1: Float, error: Float)? {
        precondition(vector.count == factors)
        var largest: Float = 0
        var l1 = 0.0
        for value in vector {
            guard value.isFinite else { return nil }
            largest = max(largest, abs(value))
            l1 += Double(abs(value))
        }
        guard largest > 0 else { return nil }
        let scale = largest / 32767
        var values = [Int16](repeating: 0, count: pairCount * 2)
        var error = 0.0
        for f in 0..<factors {
            let p = max(-32767, min(32767, (vector[f] / scale).rounded()))
            values[f] = Int16(p)
            error = max(error, abs(Double(vector[f]) - Double(scale) * Double(p)))
        }
        return (values, scale, Float(l1).nextUp.nextUp, Float(error).nextUp)
    }

    /// Every item's upper bound on its served score for `vector` and the lowest of them (some item scores at
    /// most that), from the CPU's kernel or the portable one; nil for a zero or non-finite vector.
    func upperBounds(_ vector: UnsafeBufferPointer<Float>, portable: Bool = false) -> (upper: [Float], lowest: Float)? {
        guard let quantized = quantize(vector) else { return nil }
        var upper = [Float](repeating: 0, count: blockCount * 8)
        var lowest = Float.infinity
        blocks.withUnsafeBufferPointer { b in
            scales.withUnsafeBufferPointer { s in
                radius.withUnsafeBufferPointer { r in
                    spread.withUnsafeBufferPointer { e in
                        quantized.values.withUnsafeBufferPointer { v in
                            upper.withUnsafeMutableBufferPointer { out in
                                lowest = (portable ? sr_quantized_upper_bounds_portable : sr_quantized_upper_bounds)(
                                    b.baseAddress, s.baseAddress, r.baseAddress, e.baseAddress, blockCount, Int32(pairCount),
                                    v.baseAddress, quantized.scale, quantized.l1, quantized.error, out.baseAddress
                                )
                            }
                        }
                    }
                }
            }
        }
        upper.removeLast(upper.count - itemCount)
        return (upper, lowest)
    }
}

extension QuantizedItemFactors {
    /// ``upperBounds(_:portable:)`` for the tests: the CPU's kernel and the portable one must agree bit for bit.
    public func upperBoundsForTesting(_ vector: [Float], portable: Bool) -> (upper: [Float], lowest: Float)? {
        vector.withUnsafeBufferPointer { upperBounds($0, portable: portable) }
    }
}

extension ImplicitALS {
    /// The top `k` items for a factor vector, skipping `excluded` ones: the same items, scores and order as
    /// ``TopK/select(_:k:excluded:)`` over ``scoreAll(userVector:into:)``, from a fraction of the work: every
    /// item's upper bound from `quantized` (its first pass), then exact float scores (the same kernel, bit for
    /// bit) for only the items with the highest bounds. The result is proven, not sampled: once the k-th
    /// exact score is above every bound left out, no item left out can rank.
    ///
    /// Nil when that is not proven within an eighth of the catalog, when the scores may all be alike (a zero
    /// vector; callers that treat a flat ranking specially score every item), or for a vector that is not
    /// finite: then the caller scores every item.
    public func topItems(
        vector: UnsafeBufferPointer<Float>, k: Int, quantized: QuantizedItemFactors, excluded: (Int) -> Bool
    ) -> [(index: Int, score: Float)]? {
        precondition(quantized.itemCount == itemCount && quantized.factors == configuration.factors, "quantized factors of another model")
        guard k > 0, let (upper, lowestBound) = quantized.upperBounds(vector).map({ ($0.upper, $0.lowest) }) else { return nil }
        // Some item scores at most the lowest bound: a top score above it proves the scores are not all alike.
        var candidateCount = max(4 * k, 64)
        while true {
            let candidates = TopK.select(upper, k: candidateCount, excluded: excluded)
            // In index order, so that ties in the exact scores go to the lower index as in a full selection.
            let rows = candidates.map { Int32($0.index) }.sorted()
            var exact = [Float](repeating: 0, count: rows.count)
            itemFactors.withUnsafeBufferPointer { y in
                rows.withUnsafeBufferPointer { r in
                    exact.withUnsafeMutableBufferPointer { out in
                        sr_rows_dot(y.baseAddress, Int32(configuration.factors), r.baseAddress, r.count, vector.baseAddress, out.baseAddress)
                    }
                }
            }
            let top = TopK.select(exact, k: k)
            let complete = candidates.count < candidateCount // every item that is not excluded was scored
            if let best = top.first, best.score > lowestBound,
               complete || (top.count == k && top[k - 1].score > candidates[candidates.count - 1].score) {
                return top.map { (index: Int(rows[$0.index]), score: $0.score) }
            }
            if complete { return nil }
            candidateCount *= 8
            if candidateCount > max(itemCount / 8, 4 * k) { return nil }
        }
    }
}
