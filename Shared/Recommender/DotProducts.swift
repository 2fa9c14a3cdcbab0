/// Matrix–vector products for scoring a user against the whole catalog, in 8-wide SIMD lanes.
enum DotProducts {
    /// `output[r] = Σ_c matrix[r * columns + c] · vector[c]` for every row.
    static func rows(
        _ matrix: UnsafeBufferPointer<Float>, rowCount: Int, columns: Int, times vector: UnsafeBufferPointer<Float>,
        into output: UnsafeMutableBufferPointer<Float>
    ) {
        let lanes = columns / 8
        let raw = UnsafeRawPointer(matrix.baseAddress!)
        let vectorRaw = UnsafeRawPointer(vector.baseAddress!)
        // The user vector in SIMD chunks, loaded once.
        var chunks: [SIMD8<Float>] = []
        chunks.reserveCapacity(lanes)
        for lane in 0..<lanes { chunks.append(vectorRaw.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)) }
        chunks.withUnsafeBufferPointer { v in
            for row in 0..<rowCount {
                let rowOffset = row * columns * 4
                var sum = SIMD8<Float>()
                for lane in 0..<lanes {
                    sum += raw.loadUnaligned(fromByteOffset: rowOffset + lane * 32, as: SIMD8<Float>.self) * v[lane]
                }
                var total = sum.sum()
                for column in (lanes * 8)..<columns { total += matrix[row * columns + column] * vector[column] }
                output[row] = total
            }
        }
    }
}
