import Datasets
import Foundation
import Testing

@Suite("Synthetic movies")
struct SyntheticMoviesTests {
    /// ML-100K's size; generated once for the shape checks.
    static let movieLensSized = SyntheticMovies()

    @Test func sameSeedSameDataOtherSeedOtherData() {
        let configuration = SyntheticMovies.Configuration(users: 200, items: 300, events: 8_000, seed: 5)
        let one = SyntheticMovies(configuration: configuration), two = SyntheticMovies(configuration: configuration)
        #expect(one.ratings == two.ratings)
        #expect(one.movies == two.movies)
        var other = configuration
        other.seed = 6
        #expect(SyntheticMovies(configuration: other).ratings != one.ratings)
    }

    @Test(arguments: [(943, 1682, 100_000), (50, 40, 700), (300, 5_000, 3_000), (10, 10, 40)])
    func sizesAreExact(users: Int, items: Int, events: Int) {
        let data = SyntheticMovies(configuration: SyntheticMovies.Configuration(users: users, items: items, events: events, seed: 9))
        let c = data.configuration
        #expect(data.ratings.count == events)
        #expect(data.movies.count == items)
        #expect(Set(data.movies.map(\.id)).count == items)
        #expect(Set(data.ratings.map(\.user)).count == users)
        let itemIDs = Set(data.movies.map(\.id))
        #expect(data.ratings.allSatisfy { itemIDs.contains($0.item) })
        // MovieLens has one rating per user and item.
        #expect(Set(data.ratings.map { "\($0.user)/\($0.item)" }).count == events)
        #expect(data.ratings.allSatisfy { (1...5).contains($0.rating) && $0.rating == $0.rating.rounded() })
        let start = c.end - Int64(c.spanDays) * 86_400
        #expect(data.ratings.allSatisfy { (start...c.end).contains($0.timestamp) })
        #expect(data.movies.allSatisfy { !$0.genres.isEmpty && ($0.year ?? 0) >= 1930 })
    }

    @Test func shapeIsMovieLens100KsWithinTolerance() {
        let data = Self.movieLensSized
        let shape = InteractionShape(movies: data.movies, ratings: data.ratings)
        let target = InteractionShape.movieLens100K
        print("synthetic (seed \(data.configuration.seed)):\n\(shape)\nml-100k:\n\(target)")
        #expect(shape.events == target.events && shape.users == target.users)
        #expect(abs(shape.itemPopularityGini - target.itemPopularityGini) < 0.04)
        #expect(abs(shape.topTenthItemShare - target.topTenthItemShare) < 0.04)
        #expect(abs(shape.userActivityGini - target.userActivityGini) < 0.04)
        #expect(abs(shape.medianRatingsPerUser - target.medianRatingsPerUser) < 10)
        #expect(shape.maximumRatingsPerUser <= Int(Double(1682) * data.configuration.maximumShareOfCatalog))
        #expect(abs(shape.meanRating - target.meanRating) < 0.03)
        for (share, wanted) in zip(shape.ratingShares, target.ratingShares) { #expect(abs(share - wanted) < 0.01) }
        #expect(abs(shape.genresPerMovie - target.genresPerMovie) < 0.1)
        let shares = Dictionary(uniqueKeysWithValues: shape.genreShares)
        for (genre, wanted) in target.genreShares { #expect(abs((shares[genre] ?? 0) - wanted) < 0.035, "\(genre)") }
    }

    /// Taste is there to learn: ratings in a popular item are higher (as in MovieLens, where the most
    /// rated tenth of the films is rated above the mean).
    @Test func popularItemsAreRatedHigher() {
        let ratings = Self.movieLensSized.ratings
        var count: [String: Int] = [:], sum: [String: Double] = [:]
        for rating in ratings { count[rating.item, default: 0] += 1; sum[rating.item, default: 0] += rating.rating }
        let ranked = count.keys.sorted { count[$0]! > count[$1]! }
        func mean(_ items: ArraySlice<String>) -> Double {
            items.reduce(0) { $0 + sum[$1]! } / Double(items.reduce(0) { $0 + count[$1]! })
        }
        #expect(mean(ranked.prefix(ranked.count / 10)) > mean(ranked.suffix(ranked.count / 2)) + 0.2)
    }

    /// The long tail keeps its shape at 10× the events, users and ~6× the items (what `make bench-scale`
    /// runs at its 10× size, scaled down 4× to stay quick in a debug build).
    @Test func tailKeepsItsShapeWhenScaled() {
        let data = SyntheticMovies(configuration: SyntheticMovies.Configuration(users: 2_358, items: 2_500, events: 250_000, seed: 3))
        let shape = InteractionShape(movies: data.movies, ratings: data.ratings)
        #expect(abs(shape.itemPopularityGini - InteractionShape.movieLens100K.itemPopularityGini) < 0.06)
        #expect(abs(shape.userActivityGini - InteractionShape.movieLens100K.userActivityGini) < 0.05)
        #expect(abs(shape.meanRating - InteractionShape.movieLens100K.meanRating) < 0.03)
    }

    /// The reference figures are what the files say, when the dataset has been fetched (scripts/fetch-data.sh).
    @Test func referenceIsMeasuredOnTheFiles() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../data/ml-100k").standardized.path
        guard let ratingsData = FileManager.default.contents(atPath: directory + "/ml-100k.inter"),
              let moviesData = FileManager.default.contents(atPath: directory + "/ml-100k.item")
        else { return }
        let shape = InteractionShape(
            movies: try MovieLens.parseMovies(MovieLens.text(Array(moviesData)), layout: .recbole100K).map { movie in
                var known = movie
                known.genres.removeAll { $0 == "unknown" }
                return known
            },
            ratings: try MovieLens.parseRatings(MovieLens.text(Array(ratingsData)), layout: .recbole100K)
        )
        #expect(shape == InteractionShape.movieLens100K, "\(shape)")
    }
}
