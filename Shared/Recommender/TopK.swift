/// Top-k selection without sorting the whole catalog: a min-heap of the k best seen so far, O(n log k).
public enum TopK {
    /// Indices of the `k` highest scores, best first, skipping `excluded` indices. Ties go to the lower
    /// index, so the result equals a stable full sort.
    public static func select(_ scores: UnsafeBufferPointer<Float>, k: Int, excluded: (Int) -> Bool = { _ in false }) -> [(index: Int, score: Float)] {
        guard k > 0 else { return [] }
        var heap: [(index: Int, score: Float)] = []
        heap.reserveCapacity(k)
        // "Worse" means lower score, or equal score and higher index.
        func worse(_ a: (index: Int, score: Float), _ b: (index: Int, score: Float)) -> Bool {
            a.score < b.score || (a.score == b.score && a.index > b.index)
        }
        func siftUp(_ start: Int) {
            var child = start
            while child > 0 {
                let parent = (child - 1) / 2
                guard worse(heap[child], heap[parent]) else { return }
                heap.swapAt(child, parent)
                child = parent
            }
        }
        func siftDown() {
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count, worse(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, worse(heap[right], heap[smallest]) { smallest = right }
                guard smallest != parent else { return }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        for index in 0..<scores.count {
            let score = scores[index]
            guard !score.isNaN else { continue }
            let candidate = (index: index, score: score)
            // The exclusion test (a set lookup, a genre check) only for candidates that would enter.
            if heap.count < k {
                guard !excluded(index) else { continue }
                heap.append(candidate)
                siftUp(heap.count - 1)
            } else if worse(heap[0], candidate) {
                guard !excluded(index) else { continue }
                heap[0] = candidate
                siftDown()
            }
        }
        return heap.sorted { worse($1, $0) }
    }

    public static func select(_ scores: [Float], k: Int, excluded: (Int) -> Bool = { _ in false }) -> [(index: Int, score: Float)] {
        scores.withUnsafeBufferPointer { select($0, k: k, excluded: excluded) }
    }
}
