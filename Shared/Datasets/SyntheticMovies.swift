import Foundation
import Recommender

/// MovieLens-like ratings at any size, for the cost curves (docs/scaling.md): users, items and events are
/// parameters; the shape is fitted to MovieLens 100K (`InteractionShape.movieLens100K`, measured
/// on `data/ml-100k`). Pure and deterministic for a seed (no I/O: the trainer loads the result like a
/// MovieLens directory).
///
/// - **Item popularity**: each item's weight is log-normal (σ = `itemPopularitySigma`); with 943 users ×
///   1682 items × 100k events the realised per-item counts have ML-100K's Gini (0.63) and top-10 % share
///   (0.43). Items are drawn with replacement from the cumulative weights and a repeat is drawn again, so
///   a user rates an item at most once (as in MovieLens) and the cost stays O(events · log items).
/// - **User activity**: `minimumRatingsPerUser` (MovieLens keeps users with ≥ 20) plus a log-normal
///   share (σ = `userActivitySigma`) of the rest, scaled so the counts add up to exactly `events`; capped
///   at `maximumShareOfCatalog` of the items (ML-100K's busiest user rated 44 %).
/// - **Genres**: each item gets one genre drawn by ML-100K's share of movies per genre, then each other
///   genre with the probability that makes its expected share ML-100K's (1.72 genres per movie).
///   Each user has a favourite genre; `favouriteGenreShare` of their ratings are drawn from that genre's
///   items alone (taste a model can learn, beyond popularity).
/// - **Ratings**: a latent score (item quality, which leans on popularity as in MovieLens; user bias; a
///   bonus in the favourite genre; noise) cut at the quantiles of ML-100K's rating shares, so the 1–5
///   shares and the mean (3.53) are MovieLens's and better-liked items get higher ratings.
/// - **Timestamps**: each user is active from a start within the `spanDays` before `end` for an
///   exponentially distributed stretch (mean `meanActiveDays`); their ratings fall uniformly in it.
public struct SyntheticMovies: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var users = 943
        public var items = 1682
        public var events = 100_000
        public var seed: UInt64 = 100
        /// Fitted: ML-100K's item Gini 0.63 and top-10 % share 0.43 at its size.
        public var itemPopularitySigma = 1.55
        /// Fitted: ML-100K's user-activity Gini 0.47, median 65.
        public var userActivitySigma = 1.22
        /// Lowered to what `events / users` allows for sparse configurations.
        public var minimumRatingsPerUser = 20
        public var maximumShareOfCatalog = 0.44
        public var favouriteGenreShare = 0.35
        /// ML-100K's share of movies per genre (`u.item`; "unknown" left out).
        public var genreShares: [(String, Double)] = InteractionShape.movieLens100K.genreShares
        /// ML-100K's share of ratings 1…5.
        public var ratingShares: [Double] = InteractionShape.movieLens100K.ratingShares
        /// ML-100K's span: 874 724 710 … 893 286 638 (215 days).
        public var end: Int64 = 893_286_638
        public var spanDays = 215
        public var meanActiveDays = 30.0

        public init() {}

        /// `users` × `items` × `events`, the rest ML-100K's defaults.
        public init(users: Int, items: Int, events: Int, seed: UInt64 = 100) {
            self.users = users
            self.items = items
            self.events = events
            self.seed = seed
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.users == rhs.users && lhs.items == rhs.items && lhs.events == rhs.events && lhs.seed == rhs.seed
                && lhs.itemPopularitySigma == rhs.itemPopularitySigma && lhs.userActivitySigma == rhs.userActivitySigma
                && lhs.minimumRatingsPerUser == rhs.minimumRatingsPerUser && lhs.maximumShareOfCatalog == rhs.maximumShareOfCatalog
                && lhs.favouriteGenreShare == rhs.favouriteGenreShare && lhs.genreShares.map(\.0) == rhs.genreShares.map(\.0)
                && lhs.genreShares.map(\.1) == rhs.genreShares.map(\.1) && lhs.ratingShares == rhs.ratingShares && lhs.end == rhs.end
                && lhs.spanDays == rhs.spanDays && lhs.meanActiveDays == rhs.meanActiveDays
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(users)
            hasher.combine(items)
            hasher.combine(events)
            hasher.combine(seed)
        }
    }

    public let configuration: Configuration
    public private(set) var movies: [MovieRecord] = []
    public private(set) var ratings: [RatingRecord] = []

    /// - Precondition: `users`, `items` > 0 and `events` ≤ what the per-user cap allows
    ///   (`users × maximumShareOfCatalog × items`).
    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.users > 0 && configuration.items > 0 && configuration.events >= 0)
        self.configuration = configuration
        generate()
    }

    // MARK: - Generation

    private mutating func generate() {
        let c = configuration
        var random = Generator(seed: c.seed)
        let genreNames = c.genreShares.map(\.0)
        let genreShare = c.genreShares.map(\.1)
        let genresPerMovie = genreShare.reduce(0, +)

        // Items: genres, popularity weight, quality.
        var itemGenres: [[Int]] = []
        itemGenres.reserveCapacity(c.items)
        let first = genreShare.map { $0 / genresPerMovie }
        // P(genre g) = first_g + (1 − first_g) · extra_g = share_g.
        let extra = genreShare.indices.map { g in max(0, (genreShare[g] - first[g]) / (1 - first[g])) }
        for _ in 0..<c.items {
            let main = Self.draw(first, random.uniform())
            var genres = [main]
            for g in genreShare.indices where g != main && random.uniform() < extra[g] { genres.append(g) }
            itemGenres.append(genres.sorted())
        }
        let logPopularity = (0..<c.items).map { _ in c.itemPopularitySigma * random.gaussian() }
        let weights = logPopularity.map { exp($0) }
        // Popular films are rated higher in MovieLens: quality leans on (standardised) popularity.
        let quality = logPopularity.map { 0.5 * $0 / c.itemPopularitySigma + 0.85 * random.gaussian() }
        let global = CumulativeWeights(weights, indices: Array(0..<c.items))
        let byGenre: [CumulativeWeights?] = genreNames.indices.map { g in
            let members = (0..<c.items).filter { itemGenres[$0].contains(g) }
            return members.isEmpty ? nil : CumulativeWeights(members.map { weights[$0] }, indices: members)
        }
        // A favourite genre is drawn by the genre's share of the popularity mass (what users watch).
        var genreMass = Array(repeating: 0.0, count: genreNames.count)
        for item in 0..<c.items { for g in itemGenres[item] { genreMass[g] += weights[item] } }

        let counts = activity(&random)

        // Ratings: latent scores first, then cut at the quantiles of the target shares.
        let start = c.end - Int64(c.spanDays) * 86_400
        var users: [Int32] = [], items: [Int32] = [], scores: [Float] = [], times: [Int64] = []
        users.reserveCapacity(c.events); items.reserveCapacity(c.events); scores.reserveCapacity(c.events); times.reserveCapacity(c.events)
        var taken = Set<Int32>()
        for user in 0..<c.users {
            let favourite = Self.draw(genreMass, random.uniform() * genreMass.reduce(0, +))
            let bias = 0.6 * random.gaussian()
            let activeFrom = start + Int64(random.uniform() * Double(c.spanDays) * 86_400)
            let active = max(1.0, -log(max(1e-12, random.uniform())) * c.meanActiveDays * 86_400)
            let activeUntil = min(c.end, activeFrom + Int64(active))
            taken.removeAll(keepingCapacity: true)
            var misses = 0
            while taken.count < counts[user] {
                let table = random.uniform() < c.favouriteGenreShare ? (byGenre[favourite] ?? global) : global
                var item = Int32(table.draw(random.uniform()))
                if taken.contains(item) {
                    misses += 1
                    // The popular items are used up: walk on from a random item to the next one not taken.
                    guard misses > 64 else { continue }
                    item = Int32(random.next(c.items))
                    while taken.contains(item) { item = (item + 1) % Int32(c.items) }
                }
                misses = 0
                taken.insert(item)
                let liked = itemGenres[Int(item)].contains(favourite) ? 0.4 : 0
                users.append(Int32(user))
                items.append(item)
                scores.append(Float(quality[Int(item)] + bias + liked + 0.8 * random.gaussian()))
                times.append(activeFrom + Int64(random.uniform() * Double(activeUntil - activeFrom + 1)))
            }
        }
        let thresholds = Self.thresholds(scores, shares: c.ratingShares)

        movies = (0..<c.items).map { item in
            MovieRecord(
                id: String(item + 1), title: "Synthetic Movie \(item + 1)", year: 1930 + Int((pow(random.uniform(), 0.25)) * 68),
                genres: itemGenres[item].map { genreNames[$0] }
            )
        }
        ratings = users.indices.map { index in
            let score = scores[index]
            let rating = 1 + (thresholds.firstIndex { score < $0 } ?? thresholds.count)
            return RatingRecord(user: String(users[index] + 1), item: String(items[index] + 1), rating: Double(rating), timestamp: times[index])
        }
    }

    /// Ratings per user: the minimum plus a log-normal share of the rest, adding up to `events` exactly.
    private func activity(_ random: inout Generator) -> [Int] {
        let c = configuration
        let cap = max(1, Int(Double(c.items) * c.maximumShareOfCatalog))
        precondition(c.events <= cap * c.users, "\(c.events) events cannot fit \(c.users) users rating at most \(cap) items each")
        let minimum = min(c.minimumRatingsPerUser, c.events / c.users / 2, cap)
        let raw = (0..<c.users).map { _ in exp(c.userActivitySigma * random.gaussian()) }
        let rest = Double(c.events - minimum * c.users)
        let total = raw.reduce(0, +)
        var counts = raw.map { min(cap, minimum + Int($0 / total * rest)) }
        // Rounding and the cap leave a few events over: hand them out round-robin to users below the cap.
        var missing = c.events - counts.reduce(0, +)
        var user = 0
        while missing > 0 {
            if counts[user] < cap { counts[user] += 1; missing -= 1 }
            user = (user + 1) % c.users
        }
        return counts
    }

    /// Upper score bounds of ratings 1…4 such that the shares of ratings are `shares` (from a sorted copy
    /// of at most 200 000 evenly strided scores: the cut points barely move beyond that).
    static func thresholds(_ scores: [Float], shares: [Double]) -> [Float] {
        guard !scores.isEmpty else { return [] }
        let stride = max(1, scores.count / 200_000)
        let sample = Swift.stride(from: 0, to: scores.count, by: stride).map { scores[$0] }.sorted()
        var cumulative = 0.0
        return shares.dropLast().map { share in
            cumulative += share
            return sample[min(sample.count - 1, Int(cumulative * Double(sample.count)))]
        }
    }

    /// The index whose cumulative weight first exceeds `u` (`u` uniform in 0 ..< the weights' sum).
    static func draw(_ weights: [Double], _ u: Double) -> Int {
        var sum = 0.0
        for (index, weight) in weights.enumerated() {
            sum += weight
            if u < sum { return index }
        }
        return weights.count - 1
    }

    /// A weighted draw in O(log n) by binary search over cumulative weights.
    struct CumulativeWeights: Sendable {
        let cumulative: [Double]
        let indices: [Int]

        init(_ weights: [Double], indices: [Int]) {
            var sum = 0.0
            cumulative = weights.map { sum += $0; return sum }
            self.indices = indices
        }

        func draw(_ u: Double) -> Int {
            let target = u * (cumulative.last ?? 0)
            var low = 0, high = cumulative.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] <= target { low = middle + 1 } else { high = middle }
            }
            return indices[low]
        }
    }
}
