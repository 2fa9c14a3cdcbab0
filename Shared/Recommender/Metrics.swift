#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Offline metrics of the evaluation protocol.
public enum Metrics {
    public static func rmse(predicted: [Double], actual: [Double]) -> Double {
        precondition(predicted.count == actual.count && !actual.isEmpty)
        return (zip(predicted, actual).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(actual.count)).squareRoot()
    }

    public static func mae(predicted: [Double], actual: [Double]) -> Double {
        precondition(predicted.count == actual.count && !actual.isEmpty)
        return zip(predicted, actual).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(actual.count)
    }

    public struct Ranking: Sendable, Hashable {
        public var precision: Double
        public var recall: Double
        public var ndcg: Double
        public var hitRate: Double
        /// Share of the catalog recommended to at least one evaluated user.
        public var coverage: Double
        public var users: Int
    }

    /// Each of `users`' lists from `recommend`, over the users on `threads` threads: a user's list depends on
    /// that user alone, so the lists are the ones one thread computes (scoring a catalog of 60 000 items for
    /// 70 000 test users is most of an offline evaluation at the cost curves' 100×).
    public static func lists(users: [Int32], threads: Int = 2, _ recommend: @Sendable (Int32) -> [Int32]) -> [Int32: [Int32]] {
        var lists = [[Int32]](repeating: [], count: users.count)
        lists.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let shared = UncheckedMutablePointer(base)
            ParallelRanges.forEach(users.count, threads: threads) { range in
                for position in range { shared.pointer[position] = recommend(users[position]) }
            }
        }
        return Dictionary(uniqueKeysWithValues: zip(users, lists))
    }

    /// Top-k metrics over users with at least one relevant item: precision, recall, nDCG (binary
    /// relevance, log2 discount, ideal DCG over min(k, |relevant|) items), hit rate, catalog coverage.
    /// `recommendations[u]` lists item indices best first (at most k are used).
    public static func ranking(
        recommendations: [Int32: [Int32]], relevant: [Int32: Set<Int32>], k: Int, catalogSize: Int
    ) -> Ranking {
        var precision = 0.0, recall = 0.0, ndcg = 0.0, hits = 0.0
        var recommended = Set<Int32>()
        var users = 0
        // Users in a fixed order: a dictionary's order varies by process, and with it the last bits of the sums
        // that model selection compares.
        for (user, relevantItems) in relevant.sorted(by: { $0.key < $1.key }) where !relevantItems.isEmpty {
            users += 1
            let list = Array((recommendations[user] ?? []).prefix(k))
            recommended.formUnion(list)
            var found = 0
            var dcg = 0.0
            for (rank, item) in list.enumerated() where relevantItems.contains(item) {
                found += 1
                dcg += 1 / log2(Double(rank + 2))
            }
            let ideal = (0..<min(k, relevantItems.count)).reduce(0.0) { $0 + 1 / log2(Double($1 + 2)) }
            precision += Double(found) / Double(k)
            recall += Double(found) / Double(relevantItems.count)
            ndcg += dcg / ideal
            hits += found > 0 ? 1 : 0
        }
        guard users > 0 else { return Ranking(precision: 0, recall: 0, ndcg: 0, hitRate: 0, coverage: 0, users: 0) }
        let n = Double(users)
        return Ranking(
            precision: precision / n, recall: recall / n, ndcg: ndcg / n, hitRate: hits / n,
            coverage: catalogSize > 0 ? Double(recommended.count) / Double(catalogSize) : 0, users: users
        )
    }
}
