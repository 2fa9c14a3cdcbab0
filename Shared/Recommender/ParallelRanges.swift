import Dispatch

/// Work over `0..<count` split across threads, for loops whose iterations are independent (disjoint outputs):
/// the result is the same for any thread count, so the models stay deterministic for a seed.
enum ParallelRanges {
    /// Calls `body` with ranges covering `0..<count` once each: 8 chunks per thread, thread t taking chunks t,
    /// t + threads, … (iterations of uneven cost spread over the index range, so the interleaving balances
    /// them); on the calling thread alone when `threads` is 1 or there is little to split.
    static func forEach(_ count: Int, threads: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let threads = max(1, min(threads, count))
        guard threads > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        let parts = min(count, threads * 8)
        let chunk = (count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for part in stride(from: worker, to: parts, by: threads) {
                let begin = part * chunk
                let end = min(count, begin + chunk)
                if begin < end { body(begin..<end) }
            }
        }
    }
}

/// A buffer's base that crosses into ``ParallelRanges/forEach(_:threads:_:)``: each range writes its own elements.
struct UncheckedMutablePointer<Pointee>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Pointee>
    init(_ pointer: UnsafeMutablePointer<Pointee>) { self.pointer = pointer }
}
