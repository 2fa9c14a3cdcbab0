/// Parsing of rating files (pure: the caller reads the bytes). Ids are kept as strings and mapped to
/// dense indices with ``IDMap``.
public struct RatingsDataset: Sendable {
    public var users = IDMap()
    public var items = IDMap()
    public var interactions: [Interaction] = []

    public init() {}

    /// Tab-, comma-, space- or `::`-separated `user item rating timestamp` lines (MovieLens `u.data`,
    /// `ratings.dat`, `ratings.csv`, RecBole `.inter`, and the TSV of `trainer evaluate`). A first line
    /// that does not parse as numbers (a header) is skipped; any other bad line is an error.
    /// - Parameter ratings: the range a rating must be in (nil: any number); a rating outside is an error
    ///   naming its line.
    public static func parse(_ text: String, ratings: ClosedRange<Float>? = nil) throws(DatasetError) -> RatingsDataset {
        var dataset = RatingsDataset()
        try dataset.append(text, ratings: ratings)
        return dataset
    }

    /// Parses more lines into this dataset, sharing its id maps (a test file whose ids must line up with
    /// the training file's).
    public mutating func append(_ text: String, ratings range: ClosedRange<Float>? = nil) throws(DatasetError) {
        var dataset = self
        defer { self = dataset }
        // Numbered as an editor numbers them (blank lines count).
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.allSatisfy(\.isWhitespace) { continue }
            let fields = line.contains("::")
                ? line.components(separatedBy: "::").map { Substring($0) }
                : line.split(whereSeparator: { $0 == "\t" || $0 == "," || $0 == " " })
            guard fields.count >= 3, let rating = Float(fields[2]) else {
                if number == 0 { continue }
                throw DatasetError(line: number + 1, message: "expected user, item, rating[, timestamp]")
            }
            if let range, !(rating.isFinite && range.contains(rating)) {
                throw DatasetError(line: number + 1, message: "rating \(fields[2]) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            if fields.count >= 4, Int64(fields[3]) == nil, Double(fields[3]) == nil {
                throw DatasetError(line: number + 1, message: "timestamp \(fields[3].prefix(40)) is not a number of seconds")
            }
            let timestamp = fields.count >= 4 ? Int64(fields[3]) ?? Int64(Double(fields[3]) ?? 0) : 0
            let user = dataset.users.index(for: String(fields[0]))
            let item = dataset.items.index(for: String(fields[1]))
            dataset.interactions.append(Interaction(user: user, item: item, value: rating, timestamp: timestamp))
        }
    }
}

public struct DatasetError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

extension String {
    fileprivate func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.range(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

extension Substring {
    fileprivate func components(separatedBy separator: String) -> [String] { String(self).components(separatedBy: separator) }

    fileprivate func range(of needle: String) -> Range<Index>? {
        guard !needle.isEmpty else { return nil }
        var start = startIndex
        while start < endIndex {
            if self[start...].hasPrefix(needle) { return start..<index(start, offsetBy: needle.count) }
            start = index(after: start)
        }
        return nil
    }
}
