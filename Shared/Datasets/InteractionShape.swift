import Foundation

/// The shape statistics of a ratings dataset that the synthetic movies are fitted to (and checked
/// against): how concentrated item popularity and user activity are, the ratings' shares, the genres.
/// Pure: computed from parsed records.
public struct InteractionShape: Sendable, Hashable, CustomStringConvertible {
    public var events: Int
    public var users: Int
    /// Items with at least one rating.
    public var ratedItems: Int
    /// Gini coefficient of ratings per catalog item (0 = every item alike, 1 = one item has them all).
    public var itemPopularityGini: Double
    /// Share of the ratings that go to the most-rated 10 % of the catalog.
    public var topTenthItemShare: Double
    /// Gini coefficient of ratings per user.
    public var userActivityGini: Double
    public var medianRatingsPerUser: Double
    public var maximumRatingsPerUser: Int
    public var meanRating: Double
    /// Shares of ratings 1…5 (half stars rounded down).
    public var ratingShares: [Double]
    public var genresPerMovie: Double
    /// Share of movies per genre, largest first.
    public var genreShares: [(String, Double)]

    /// MovieLens 100K (`data/ml-100k`: 100 000 ratings, 943 users, 1682 movies), measured once; a test
    /// recomputes it from the files when they are present.
    public static let movieLens100K = InteractionShape(
        events: 100_000, users: 943, ratedItems: 1682, itemPopularityGini: 0.6290, topTenthItemShare: 0.4270,
        userActivityGini: 0.4719, medianRatingsPerUser: 65, maximumRatingsPerUser: 737, meanRating: 3.5299,
        ratingShares: [0.0611, 0.1137, 0.27145, 0.34174, 0.21201], genresPerMovie: 1.7188,
        genreShares: [
            ("Drama", 0.4310), ("Comedy", 0.3002), ("Action", 0.1492), ("Thriller", 0.1492), ("Romance", 0.1468), ("Adventure", 0.0803),
            ("Children's", 0.0725), ("Crime", 0.0648), ("Sci-Fi", 0.0600), ("Horror", 0.0547), ("War", 0.0422), ("Mystery", 0.0363),
            ("Musical", 0.0333), ("Documentary", 0.0297), ("Animation", 0.0250), ("Western", 0.0161), ("Film-Noir", 0.0143), ("Fantasy", 0.0131),
        ]
    )

    public init(
        events: Int, users: Int, ratedItems: Int, itemPopularityGini: Double, topTenthItemShare: Double, userActivityGini: Double,
        medianRatingsPerUser: Double, maximumRatingsPerUser: Int, meanRating: Double, ratingShares: [Double], genresPerMovie: Double,
        genreShares: [(String, Double)]
    ) {
        self.events = events
        self.users = users
        self.ratedItems = ratedItems
        self.itemPopularityGini = itemPopularityGini
        self.topTenthItemShare = topTenthItemShare
        self.userActivityGini = userActivityGini
        self.medianRatingsPerUser = medianRatingsPerUser
        self.maximumRatingsPerUser = maximumRatingsPerUser
        self.meanRating = meanRating
        self.ratingShares = ratingShares
        self.genresPerMovie = genresPerMovie
        self.genreShares = genreShares
    }

    /// The shape of `ratings` over the catalog `movies` (items never rated count as 0 in the Gini).
    public init(movies: [MovieRecord], ratings: [RatingRecord]) {
        var perItem: [String: Int] = [:], perUser: [String: Int] = [:]
        var ratingCounts = [Int](repeating: 0, count: 5)
        var sum = 0.0
        for rating in ratings {
            perItem[rating.item, default: 0] += 1
            perUser[rating.user, default: 0] += 1
            ratingCounts[min(4, max(0, Int(rating.rating) - 1))] += 1
            sum += rating.rating
        }
        let catalog = Set(movies.map(\.id)).union(perItem.keys)
        let itemCounts = catalog.map { perItem[$0] ?? 0 }.sorted(by: >)
        let userCounts = perUser.values.sorted()
        let n = Double(max(1, ratings.count))
        var genreCounts: [String: Int] = [:]
        for movie in movies { for genre in movie.genres { genreCounts[genre, default: 0] += 1 } }
        let m = Double(max(1, movies.count))
        self.init(
            events: ratings.count, users: perUser.count, ratedItems: perItem.count, itemPopularityGini: Self.gini(itemCounts),
            topTenthItemShare: Double(itemCounts.prefix(itemCounts.count / 10).reduce(0, +)) / n, userActivityGini: Self.gini(userCounts),
            medianRatingsPerUser: Self.median(userCounts), maximumRatingsPerUser: userCounts.last ?? 0, meanRating: sum / n,
            ratingShares: ratingCounts.map { Double($0) / n }, genresPerMovie: Double(genreCounts.values.reduce(0, +)) / m,
            genreShares: genreCounts.map { ($0.key, Double($0.value) / m) }.sorted { ($0.1, $1.0) > ($1.1, $0.0) }
        )
    }

    /// Gini coefficient: Σ (2i − n − 1) xᵢ / (n Σ x) over the values sorted ascending (i from 1).
    public static func gini(_ values: [Int]) -> Double {
        let sorted = values.sorted()
        let n = Double(sorted.count)
        let total = Double(sorted.reduce(0, +))
        guard n > 0, total > 0 else { return 0 }
        var weighted = 0.0
        for (index, value) in sorted.enumerated() { weighted += (2 * Double(index + 1) - n - 1) * Double(value) }
        return weighted / (n * total)
    }

    static func median(_ sorted: [Int]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? Double(sorted[middle]) : Double(sorted[middle - 1] + sorted[middle]) / 2
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    /// One line per statistic, `name value`, rounded as the comparisons use them.
    public var description: String {
        func f(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }
        return [
            "events \(events)", "users \(users)", "rated_items \(ratedItems)", "item_gini \(f(itemPopularityGini))",
            "top10pct_item_share \(f(topTenthItemShare))", "user_gini \(f(userActivityGini))", "median_per_user \(f(medianRatingsPerUser, 1))",
            "max_per_user \(maximumRatingsPerUser)", "mean_rating \(f(meanRating))", "rating_shares \(ratingShares.map { f($0) }.joined(separator: ","))",
            "genres_per_movie \(f(genresPerMovie))",
            "genre_shares \(genreShares.prefix(6).map { "\($0.0):\(f($0.1))" }.joined(separator: ","))",
        ].joined(separator: "\n")
    }
}
