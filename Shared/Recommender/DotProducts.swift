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

/// Small dense vector kernels on raw pointers, 8 lanes at a time with a scalar tail.
enum Vectors {
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        let lanes = count / 8
        var sum = SIMD8<Float>()
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        for lane in 0..<lanes {
            sum += rawA.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
        }
        var total = sum.sum()
        for index in (lanes * 8)..<count { total += a[index] * b[index] }
        return total
    }

    @inline(__always)
    static func dot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ count: Int) -> Float {
        dot(UnsafePointer(a), UnsafePointer(b), count)
    }

    /// y += a · x
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let lanes = count / 8
        let factor = SIMD8<Float>(repeating: a)
        let rawX = UnsafeRawPointer(x)
        let rawY = UnsafeMutableRawPointer(y)
        for lane in 0..<lanes {
            let updated = rawY.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
                + factor * rawX.loadUnaligned(fromByteOffset: lane * 32, as: SIMD8<Float>.self)
            rawY.storeBytes(of: updated, toByteOffset: lane * 32, as: SIMD8<Float>.self)
        }
        for index in (lanes * 8)..<count { y[index] += a * x[index] }
    }

    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        axpy(a, UnsafePointer(x), y, count)
    }

    /// out = M · v for a square row-major `n × n` matrix.
    @inline(__always)
    static func matrixTimes(_ matrix: UnsafeMutablePointer<Float>, _ n: Int, _ vector: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        for row in 0..<n { output[row] = dot(UnsafePointer(matrix + row * n), UnsafePointer(vector), n) }
    }
}
