/// Anything that predicts an explicit rating for a (user, item) pair, unknown ids included.
public protocol RatingPredictor {
    func predict(user: Int, item: Int) -> Float
}

extension RatingPredictor {
    /// Root mean squared error of the predictions on `interactions`.
    public func rmse(on interactions: [Interaction]) -> Double {
        let squared = interactions.reduce(0.0) { total, interaction in
            let error = Double(predict(user: Int(interaction.user), item: Int(interaction.item)) - interaction.value)
            return total + error * error
        }
        return (squared / Double(max(1, interactions.count))).squareRoot()
    }
}

/// Small dense linear systems (blend weights, test references): Gaussian elimination with partial
/// pivoting in Double. A singular column leaves its unknown at zero.
public enum DenseSolver {
    public static func solve(_ matrix: [[Double]], _ vector: [Double]) -> [Double] {
        var a = matrix
        var b = vector
        let n = b.count
        for column in 0..<n {
            let pivot = (column..<n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
            a.swapAt(column, pivot)
            b.swapAt(column, pivot)
            guard a[column][column] != 0 else { continue }
            for row in (column + 1)..<n {
                let factor = a[row][column] / a[column][column]
                for j in column..<n { a[row][j] -= factor * a[column][j] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            guard a[row][row] != 0 else { continue }
            x[row] = (b[row] - ((row + 1)..<n).reduce(0) { $0 + a[row][$1] * x[$1] }) / a[row][row]
        }
        return x
    }

    /// Solves A x = b for a symmetric positive definite A of order `n`, given (at least) its lower
    /// triangle row-major in `a`, which is overwritten with the Cholesky factor L (A = L Lᵀ); then the two
    /// triangular solves. The fold-ins' ridge systems: small and well conditioned by their penalty.
    public static func choleskySolve(_ a: inout [Double], _ b: [Double], n: Int) -> [Double] {
        for column in 0..<n {
            var diagonal = a[column * n + column]
            for m in 0..<column { diagonal -= a[column * n + m] * a[column * n + m] }
            let pivot = max(diagonal, 1e-12).squareRoot()
            a[column * n + column] = pivot
            for row in (column + 1)..<max(column + 1, n) {
                var value = a[row * n + column]
                for m in 0..<column { value -= a[row * n + m] * a[column * n + m] }
                a[row * n + column] = value / pivot
            }
        }
        var y = b
        for row in 0..<n {
            for m in 0..<row { y[row] -= a[row * n + m] * y[m] }
            y[row] /= a[row * n + row]
        }
        for row in stride(from: n - 1, through: 0, by: -1) {
            for m in (row + 1)..<max(row + 1, n) { y[row] -= a[m * n + row] * y[m] }
            y[row] /= a[row * n + row]
        }
        return y
    }
}
