import CRecommenderKernels
import Dispatch

/// Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008),
/// each row solved by a few conjugate-gradient steps (Takács et al. 2011), as the `implicit` library does.
///
/// Loss: Σ_observed c_ui (1 − x_u·y_i)² + w₀ Σ_unobserved (x_u·y_i)² + λ(‖x_u‖² + ‖y_i‖²), with confidence
/// c_ui = 1 + α·value for observed pairs and weight w₀ for unobserved ones.
/// Rows are solved in parallel but each row's solve is independent and ordered, so a seed fixes the result on a
/// given CPU (the kernels use FMA where the CPU has it, which rounds differently from separate multiply-adds).
public struct ImplicitALS: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var factors: Int = 64
        public var iterations: Int = 15
        public var regularization: Float = 0.05
        /// Confidence slope: c = 1 + alpha · value.
        public var alpha: Float = 2
        /// Weight of unobserved pairs (w₀); 1 is the classic formulation.
        public var unobservedWeight: Float = 1
        public var conjugateGradientSteps: Int = 3
        public var initialScale: Float = 0.01
        public var seed: UInt64 = 42
        /// Threads solving rows (and building the Gram matrix) concurrently; 1 = single-threaded.
        public var threads: Int = 2

        public init() {}

        /// The configuration chosen on MovieLens 100K validation data (docs/benchmarks.md): the trainer's
        /// default, and the ALS candidate of ``TopNSelection`` in `trainer evaluate`.
        public static let movieLens: Configuration = {
            var configuration = Configuration()
            configuration.factors = 64
            configuration.iterations = 15
            configuration.regularization = 60
            configuration.alpha = 10
            return configuration
        }()
    }

    public let configuration: Configuration
    public let userCount: Int
    public let itemCount: Int
    /// Row-major `userCount × factors`.
    public private(set) var userFactors: [Float]
    /// Row-major `itemCount × factors`.
    public private(set) var itemFactors: [Float]
    /// w₀ YᵀY + λI over the item factors, computed once for fold-in.
    let gramian: [Float]

    /// Fits on `matrix` (values are the implicit strengths, e.g. 1 per positive).
    public static func fit(_ matrix: InteractionMatrix, configuration: Configuration = Configuration()) -> ImplicitALS {
        fit(matrix, configuration: configuration, observing: []) { _, _ in }
    }

    /// ``fit(_:configuration:)``, handing `observe` the model as it stands after each iteration count in
    /// `observing` (below `configuration.iterations`): the model a fit with that many iterations returns, so a
    /// learning curve costs one fit, not one per point.
    public static func fit(
        _ matrix: InteractionMatrix, configuration: Configuration, observing: Set<Int>, _ observe: (Int, ImplicitALS) -> Void
    ) -> ImplicitALS {
        var generator = SeededRandom(seed: configuration.seed)
        let k = configuration.factors
        let scale = Double(configuration.initialScale)
        var users = (0..<(matrix.userCount * k)).map { _ in Float(generator.nextGaussian() * scale) }
        var items = (0..<(matrix.itemCount * k)).map { _ in Float(generator.nextGaussian() * scale) }
        for iteration in 0..<configuration.iterations {
            if observing.contains(iteration) {
                var snapshot = configuration
                snapshot.iterations = iteration
                observe(iteration, ImplicitALS(configuration: snapshot, userCount: matrix.userCount, itemCount: matrix.itemCount, userFactors: users, itemFactors: items))
            }
            solveRows(
                into: &users, fixed: items, rowCount: matrix.userCount, offsets: matrix.userOffsets,
                columns: matrix.userItems, values: matrix.userValues, configuration: configuration
            )
            solveRows(
                into: &items, fixed: users, rowCount: matrix.itemCount, offsets: matrix.itemOffsets,
                columns: matrix.itemUsers, values: matrix.itemValues, configuration: configuration
            )
        }
        return ImplicitALS(configuration: configuration, userCount: matrix.userCount, itemCount: matrix.itemCount, userFactors: users, itemFactors: items)
    }

    /// A fitted model from its parameters (e.g. read back from an artifact).
    public init(configuration: Configuration, userCount: Int, itemCount: Int, userFactors: [Float], itemFactors: [Float]) {
        precondition(userFactors.count == userCount * configuration.factors && itemFactors.count == itemCount * configuration.factors, "factor shapes")
        self.configuration = configuration
        self.userCount = userCount
        self.itemCount = itemCount
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        gramian = Self.gram(of: itemFactors, configuration: configuration)
    }

    /// w₀ YᵀY + λI for the factors `fixed` (row-major, `configuration.factors` columns). Rows of the result
    /// are split across threads; each thread streams all of `fixed` once.
    static func gram(of fixed: [Float], configuration: Configuration) -> [Float] {
        let k = configuration.factors
        var gram = [Float](repeating: 0, count: k * k)
        let fixedRows = fixed.count / k
        let threads = max(1, min(configuration.threads, k / 8))
        let chunk = (k + threads - 1) / threads
        fixed.withUnsafeBufferPointer { y in
            gram.withUnsafeMutableBufferPointer { g in
                let yBase = SendablePointer(y.baseAddress)
                let gBase = UncheckedPointer(g.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: threads) { part in
                    let begin = part * chunk
                    let end = min(k, begin + chunk)
                    guard begin < end, let y = yBase.pointer else { return }
                    sr_gram_rows(y, fixedRows, Int32(k), Int32(begin), Int32(end), gBase.pointer)
                }
            }
        }
        for index in 0..<(k * k) { gram[index] *= configuration.unobservedWeight }
        for a in 0..<k { gram[a * k + a] += configuration.regularization }
        return gram
    }

    /// One half-iteration: every row of `target` solved against the fixed other side by conjugate gradient
    /// (`sr_als_solve_rows`: A x = b with A = G + Σ_obs (c − w₀) y yᵀ, b = Σ_obs c y, c = 1 + α·value, from the
    /// current x), rows split across threads. A row stops early once its squared residual is below
    /// `relativeTolerance` times its starting value (0: every configured step).
    static func solveRows(
        into target: inout [Float], fixed: [Float], rowCount: Int, offsets: [Int], columns: [Int32], values: [Float],
        configuration: Configuration, gram precomputed: [Float]? = nil, relativeTolerance: Float = 0
    ) {
        let k = configuration.factors
        // G = w₀ YᵀY + λI, shared by all rows.
        let gram = precomputed ?? gram(of: fixed, configuration: configuration)
        // Rows differ in their number of observations, so halves would be uneven: the rows are cut into 8 chunks
        // per thread and thread t solves chunks t, t + threads, t + 2·threads, … (costly rows are spread over
        // the index range, so the interleaving balances the work; exactly `threads` workers run).
        let threads = max(1, min(configuration.threads, rowCount))
        let parts = min(rowCount, threads * 8)
        let chunk = max(1, (rowCount + parts - 1) / max(1, parts))
        target.withUnsafeMutableBufferPointer { x in
            let xBase = UncheckedPointer(x.baseAddress!)
            fixed.withUnsafeBufferPointer { y in
                gram.withUnsafeBufferPointer { g in
                    let yBase = SendablePointer(y.baseAddress)
                    let gBase = SendablePointer(g.baseAddress)
                    offsets.withUnsafeBufferPointer { offsetBuffer in
                        columns.withUnsafeBufferPointer { columnBuffer in
                            values.withUnsafeBufferPointer { valueBuffer in
                                let offsetBase = SendablePointer(offsetBuffer.baseAddress)
                                let columnBase = SendablePointer(columnBuffer.baseAddress)
                                let valueBase = SendablePointer(valueBuffer.baseAddress)
                                DispatchQueue.concurrentPerform(iterations: threads) { worker in
                                    // Scratch vectors once per thread, not per row.
                                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * k)
                                    defer { scratch.deallocate() }
                                    for part in stride(from: worker, to: parts, by: threads) {
                                        let begin = part * chunk
                                        let end = min(rowCount, begin + chunk)
                                        guard begin < end else { continue }
                                        sr_als_solve_rows(
                                            xBase.pointer, yBase.pointer, gBase.pointer, Int32(k), offsetBase.pointer,
                                            columnBase.pointer, valueBase.pointer, begin, end, configuration.alpha,
                                            configuration.unobservedWeight, Int32(configuration.conjugateGradientSteps), relativeTolerance, scratch
                                        )
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Scores of every item for a user factor vector (`x · y_i`), written into `scores`.
    public func scoreAll(userVector: UnsafeBufferPointer<Float>, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(userVector.count == configuration.factors && scores.count >= itemCount)
        itemFactors.withUnsafeBufferPointer { y in
            sr_matrix_vector(y.baseAddress, itemCount, Int32(configuration.factors), userVector.baseAddress, scores.baseAddress)
        }
    }

    /// Top-k items for a known user, excluding `seen`.
    public func recommend(user: Int, k: Int, excluding seen: Set<Int32>) -> [Int32] {
        var scores = [Float](repeating: 0, count: itemCount)
        let factors = configuration.factors
        userFactors.withUnsafeBufferPointer { all in
            let vector = UnsafeBufferPointer(rebasing: all[(user * factors)..<((user + 1) * factors)])
            scores.withUnsafeMutableBufferPointer { scoreAll(userVector: vector, into: $0) }
        }
        return TopK.select(scores, k: k) { seen.contains(Int32($0)) }.map { Int32($0.index) }
    }
}

/// A read-only raw pointer that crosses into `concurrentPerform`.
struct SendablePointer<Pointee>: @unchecked Sendable {
    let pointer: UnsafePointer<Pointee>?
    init(_ pointer: UnsafePointer<Pointee>?) { self.pointer = pointer }
}

/// A raw pointer that crosses into `concurrentPerform`: each task touches disjoint rows only.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

extension ImplicitALS {
    /// One half-iteration on explicit rows, exposed for the closed-form check in the tests.
    public static func solveRowsForTesting(
        into target: inout [Float], fixed: [Float], offsets: [Int], columns: [Int32], values: [Float], configuration: Configuration
    ) {
        solveRows(into: &target, fixed: fixed, rowCount: offsets.count - 1, offsets: offsets, columns: columns, values: values, configuration: configuration)
    }
}

extension ImplicitALS {
    /// A factor vector for a user from their interactions (item index, strength), with the item factors
    /// fixed: the same least-squares problem as a training row, solved exactly (k conjugate-gradient steps
    /// from zero). Personalises a new user from their first events, in microseconds.
    public func foldIn(_ history: [(item: Int32, value: Float)]) -> [Float] {
        var configuration = configuration
        configuration.conjugateGradientSteps = configuration.factors
        configuration.threads = 1
        var vector = [Float](repeating: 0, count: configuration.factors)
        let known = history.filter { $0.item >= 0 && Int($0.item) < itemCount }
        Self.solveRows(
            into: &vector, fixed: itemFactors, rowCount: 1, offsets: [0, known.count],
            columns: known.map(\.item), values: known.map(\.value), configuration: configuration,
            // Residual down by 10⁴ in norm: the ranking no longer changes, at a fraction of k steps (the
            // system is well conditioned by λ).
            gram: gramian, relativeTolerance: 1e-8
        )
        return vector
    }

    /// Top-k items for a factor vector (e.g. from ``foldIn(_:)``), excluding `seen`.
    public func recommend(vector: [Float], k: Int, excluding seen: Set<Int32>) -> [Int32] {
        var scores = [Float](repeating: 0, count: itemCount)
        vector.withUnsafeBufferPointer { v in scores.withUnsafeMutableBufferPointer { scoreAll(userVector: v, into: $0) } }
        return TopK.select(scores, k: k) { seen.contains(Int32($0)) }.map { Int32($0.index) }
    }
}
