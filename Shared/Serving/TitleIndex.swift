import Events
import Foundation

/// Resolves what people type ("toy story", "Toy Story (1995)", "Matrix, The", "the shawshank
/// redemtion") to catalog ids: case, diacritics, punctuation and articles do not matter, the year is
/// optional, and a small number of typos is tolerated. Pure: built from (id, title, year) triples.
public struct TitleIndex: Sendable {
    public struct Entry: Sendable, Hashable {
        public var id: String
        /// As stored in the catalog, e.g. "Matrix, The".
        public var title: String
        public var year: Int?

        public init(id: String, title: String, year: Int?) {
            self.id = id
            self.title = title
            self.year = year
        }
    }

    public enum Resolution: Sendable, Hashable {
        /// Every entry whose normalised title matches as well as any other (several when a title was
        /// remade and no year was given); `typos` is the edit distance of the match (0: exact).
        case matched([Entry], typos: Int)
        /// Nothing close enough; the nearest titles, best first.
        case unknown(suggestions: [Entry])
    }

    private let entries: [Entry]
    /// Normalised title (and alternate title) → entry indices.
    private let exact: [String: [Int]]
    /// Every normalised key with its scalars, for the typo search.
    private let keys: [(key: [Unicode.Scalar], indices: [Int])]
    /// Trigram (of a key padded with two spaces each side) → positions in `keys` holding it, each once.
    /// The typo search compares only keys that share enough trigrams with the query, instead of all.
    private let keysByTrigram: [UInt64: [Int32]]
    /// Positions in `keys` by key length, for queries too short for trigrams to narrow anything.
    private let keysByLength: [Int: [Int32]]

    public init(_ entries: [Entry]) {
        self.entries = entries
        var exact: [String: [Int]] = [:]
        for (index, entry) in entries.enumerated() {
            for key in Self.keys(of: entry.title) where !(exact[key]?.contains(index) ?? false) { exact[key, default: []].append(index) }
        }
        self.exact = exact
        // Sorted, so ties between equally near titles break the same way in every process.
        keys = exact.sorted { $0.key < $1.key }.map { (Array($0.key.unicodeScalars), $0.value) }
        var byTrigram: [UInt64: [Int32]] = [:]
        var byLength: [Int: [Int32]] = [:]
        for (position, candidate) in keys.enumerated() {
            for trigram in Set(Self.trigrams(candidate.key)) { byTrigram[trigram, default: []].append(Int32(position)) }
            byLength[candidate.key.count, default: []].append(Int32(position))
        }
        keysByTrigram = byTrigram
        keysByLength = byLength
    }

    public var count: Int { entries.count }

    /// Whether `query` names a title without typos: the cheap look-up, before the edit-distance scan over
    /// every title that ``resolve(_:)`` falls back to.
    public func matchesExactly(_ query: String) -> Bool {
        let (text, year) = MovieTitle.splitYear(query)
        guard let key = Self.keys(of: text).first, let indices = exact[key] else { return false }
        return year == nil || indices.contains { entries[$0].year == year }
    }

    /// - Parameter scanningEveryTitle: compare the query with every title instead of those the trigram
    ///   index picks (how typos were looked up before the index; kept as the reference that tests and
    ///   `streamrec-bench title-resolution` compare the index with).
    public func resolve(_ query: String, scanningEveryTitle: Bool = false) -> Resolution {
        let (text, year) = MovieTitle.splitYear(query)
        guard let key = Self.keys(of: text).first, !key.isEmpty else { return .unknown(suggestions: []) }
        func filtered(_ indices: [Int]) -> [Entry] {
            let found = indices.map { entries[$0] }
            guard let year else { return found }
            return found.filter { $0.year == year }
        }
        if let indices = exact[key], case let found = filtered(indices), !found.isEmpty { return .matched(found, typos: 0) }
        // Typos: the nearest keys by edit distance, within a budget that grows with the title's length.
        let scalars = Array(key.unicodeScalars)
        let budget = scalars.count <= 4 ? 1 : scalars.count <= 10 ? 2 : 2 + scalars.count / 10
        let suggestionBudget = budget + 3
        var ranked: [(distance: Int, order: Int, indices: [Int])] = []
        let compared = scanningEveryTitle
            ? keys.indices.filter { abs(keys[$0].key.count - scalars.count) <= suggestionBudget }
            : candidates(scalars, budget: budget, suggestionBudget: suggestionBudget)
        for order in compared {
            let candidate = keys[order]
            let distance = Self.editDistance(scalars, candidate.key, limit: suggestionBudget)
            if distance <= suggestionBudget { ranked.append((distance, order, candidate.indices)) }
        }
        ranked.sort { ($0.distance, $0.order) < ($1.distance, $1.order) }
        if let best = ranked.first, best.distance <= budget {
            let found = ranked.filter { $0.distance == best.distance }.flatMap { filtered($0.indices) }
            if !found.isEmpty { return .matched(Self.unique(found), typos: best.distance) }
        }
        return .unknown(suggestions: Array(Self.unique(ranked.flatMap { $0.indices.map { entries[$0] } }).prefix(3)))
    }

    /// Positions in `keys` worth an edit distance: every key within `budget` of the query (so a match is
    /// never missed), and the keys sharing the most trigrams with it (for suggestions).
    ///
    /// One edit changes at most three of a string's padded trigrams and an adjacent swap at most four,
    /// so a key within `budget` edits shares at least `distinct query trigrams − 4 × budget` of them. The
    /// key's length must be within the budget as well. Keys of queries too short for that bound to say
    /// anything are found by length instead.
    private func candidates(_ query: [Unicode.Scalar], budget: Int, suggestionBudget: Int) -> [Int] {
        let queryTrigrams = Set(Self.trigrams(query))
        let threshold = queryTrigrams.count - 4 * budget
        guard threshold > 0 else {
            var found: [Int] = []
            for length in max(0, query.count - suggestionBudget)...(query.count + suggestionBudget) {
                found += (keysByLength[length] ?? []).map(Int.init)
            }
            return found.sorted()
        }
        var shared: [Int32: Int] = [:]
        for trigram in queryTrigrams {
            for position in keysByTrigram[trigram] ?? [] { shared[position, default: 0] += 1 }
        }
        var found: [Int] = []
        var nearest: [(shared: Int, position: Int)] = []
        for (position, count) in shared {
            let position = Int(position)
            let lengthDifference = abs(keys[position].key.count - query.count)
            if count >= threshold, lengthDifference <= budget {
                found.append(position)
            } else if lengthDifference <= suggestionBudget {
                nearest.append((count, position))
            }
        }
        // Suggestions: the keys most alike by trigrams (a bounded number of edit distances however many
        // titles share one trigram with the query).
        nearest.sort { ($0.shared, -$0.position) > ($1.shared, -$1.position) }
        found += nearest.prefix(Self.suggestionCandidates).map(\.position)
        return found.sorted()
    }

    /// Keys beyond the sure candidates whose edit distance is computed for suggestions.
    static let suggestionCandidates = 32

    /// The trigrams of `scalars` padded with two spaces each side, packed 21 bits a scalar.
    static func trigrams(_ scalars: [Unicode.Scalar]) -> [UInt64] {
        let padded = [" ", " "] + scalars + [" ", " "]
        return (0..<(padded.count - 2)).map { start in
            (UInt64(padded[start].value) << 42) | (UInt64(padded[start + 1].value) << 21) | UInt64(padded[start + 2].value)
        }
    }

    private static func unique(_ found: [Entry]) -> [Entry] {
        var seen: Set<String> = []
        return found.filter { seen.insert($0.id).inserted }
    }

    // MARK: - Normalisation

    /// Leading ("the matrix") and trailing ("matrix, the") articles, in the languages of MovieLens titles.
    static let articles: Set<String> = ["the", "a", "an", "il", "la", "le", "les", "l", "el", "los", "las", "der", "die", "das", "lo", "i"]

    /// The normalised keys of a title: the title itself, then an alternate title in parentheses
    /// ("Horseman on the Roof, The (Hussard sur le toit, Le)") if there is one.
    static func keys(of title: String) -> [String] {
        var variants = [title]
        if title.hasSuffix(")"), let open = title.firstIndex(of: "(") {
            variants = [String(title[..<open]), String(title[title.index(after: open)..<title.index(before: title.endIndex)])]
        }
        return variants.map(normalise).filter { !$0.isEmpty }
    }

    /// Lower case, no diacritics, "&" as "and", punctuation as spaces, articles at either end dropped.
    static func normalise(_ text: String) -> String {
        let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).replacingOccurrences(of: "&", with: " and ")
        var words = folded.split { !($0.isLetter || $0.isNumber) }.map(String.init)
        // "matrix, the" and "the matrix" alike; a title that is only an article keeps it.
        if words.count > 1, let last = words.last, articles.contains(last), folded.range(of: ",\\s*\(last)\\s*$", options: .regularExpression) != nil {
            words.removeLast()
        }
        if words.count > 1, let first = words.first, articles.contains(first) { words.removeFirst() }
        return words.joined(separator: " ")
    }

    /// Optimal-string-alignment distance (insertions, deletions, substitutions, adjacent swaps),
    /// giving up above `limit` (returns limit + 1).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowMinimum = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { value = min(value, previous2[j - 2] + 1) }
                current[j] = value
                rowMinimum = min(rowMinimum, value)
            }
            if rowMinimum > limit { return limit + 1 }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
