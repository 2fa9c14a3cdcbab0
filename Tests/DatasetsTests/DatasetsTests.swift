import Datasets
import Foundation
import Testing

@Suite("MovieLens layouts")
struct MovieLensTests {
    @Test func grouplens100K() throws {
        let ratings = try MovieLens.parseRatings("196\t242\t3\t881250949\n186\t302\t3\t891717742\n", layout: .grouplens100K)
        #expect(ratings == [
            RatingRecord(user: "196", item: "242", rating: 3, timestamp: 881_250_949),
            RatingRecord(user: "186", item: "302", rating: 3, timestamp: 891_717_742),
        ])
        // Latin-1 bytes (è = 0xE8), as in the original u.item.
        var bytes = Array("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n".utf8)
        bytes += Array("2|Lumi".utf8) + [0xE8] + Array("re (1996)|01-Jan-1996||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n".utf8)
        let movies = try MovieLens.parseMovies(MovieLens.text(bytes), layout: .grouplens100K)
        #expect(movies == [
            MovieRecord(id: "1", title: "Toy Story", year: 1995, genres: ["Animation", "Children's", "Comedy"]),
            MovieRecord(id: "2", title: "Lumière", year: 1996, genres: ["Drama"]),
        ])
    }

    @Test func recbole100K() throws {
        let ratings = try MovieLens.parseRatings("user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n", layout: .recbole100K)
        #expect(ratings == [RatingRecord(user: "196", item: "242", rating: 3, timestamp: 881_250_949)])
        let movies = try MovieLens.parseMovies(
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation Children's Comedy\n", layout: .recbole100K
        )
        #expect(movies == [MovieRecord(id: "1", title: "Toy Story", year: 1995, genres: ["Animation", "Children's", "Comedy"])])
    }

    @Test func oneMillion() throws {
        #expect(try MovieLens.parseRatings("1::1193::5::978300760\n", layout: .oneMillion) == [RatingRecord(user: "1", item: "1193", rating: 5, timestamp: 978_300_760)])
        #expect(try MovieLens.parseMovies("1::Toy Story (1995)::Animation|Children's|Comedy\n", layout: .oneMillion) == [
            MovieRecord(id: "1", title: "Toy Story", year: 1995, genres: ["Animation", "Children's", "Comedy"]),
        ])
    }

    @Test func csvLayoutWithQuotedTitles() throws {
        #expect(try MovieLens.parseRatings("userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n", layout: .csv) == [
            RatingRecord(user: "1", item: "296", rating: 5, timestamp: 1_147_880_044),
        ])
        let movies = try MovieLens.parseMovies(
            "movieId,title,genres\n11,\"American President, The (1995)\",Comedy|Drama|Romance\n1,\"Say \"\"Hi\"\" (2001)\",(no genres listed)\n9,Sabrina (1995),Comedy\n",
            layout: .csv
        )
        #expect(movies == [
            MovieRecord(id: "11", title: "American President, The", year: 1995, genres: ["Comedy", "Drama", "Romance"]),
            MovieRecord(id: "1", title: "Say \"Hi\"", year: 2001, genres: []),
            MovieRecord(id: "9", title: "Sabrina", year: 1995, genres: ["Comedy"]),
        ])
    }

    @Test func malformedLinesNameFileAndLine() {
        #expect(throws: DatasetFileError(file: "u.data", line: 2, "expected user, item, rating, timestamp")) {
            try MovieLens.parseRatings("1\t2\t3\t4\n1\t2\tnot-a-number\t4\n", layout: .grouplens100K)
        }
    }
}

@Suite("Synthetic polls")
struct SyntheticPollsTests {
    @Test("The default seed reproduces the published statistics within tolerance")
    func calibration() async {
        // Seconds of CPU in a debug build: off the cooperative pool, which other suites need meanwhile.
        let data = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: SyntheticPolls()) }.start()
        }
        let stats = data.statistics
        #expect(stats.users == 4200)
        #expect(data.polls.count == 707)
        #expect(abs(stats.meanPollsPerUser - 30.8) / 30.8 < 0.10, "mean polls per user \(stats.meanPollsPerUser)")
        #expect(abs(stats.medianPollsPerUser - 14) <= 2, "median polls per user \(stats.medianPollsPerUser)")
        #expect(stats.maximumPollsPerUser <= 602 && stats.maximumPollsPerUser >= 300, "max polls per user \(stats.maximumPollsPerUser)")
        #expect(abs(stats.meanUsersPerPoll - 183) / 183 < 0.10, "mean users per poll \(stats.meanUsersPerPoll)")
        #expect(abs(stats.medianUsersPerPoll - 142) / 142 < 0.15, "median users per poll \(stats.medianUsersPerPoll)")
        #expect(abs(stats.answerRate - 0.80) < 0.02, "answer rate \(stats.answerRate)")
        #expect(abs(stats.expandRate - 0.03) < 0.005, "expand rate \(stats.expandRate)")
        #expect(abs(stats.shareRate - 0.002) < 0.001, "share rate \(stats.shareRate)")
        #expect(data.polls.allSatisfy { (2...6).contains($0.options.count) })
    }

    @Test func sameSeedSameData() {
        var configuration = SyntheticPolls.Configuration()
        configuration.users = 300
        #expect(SyntheticPolls(configuration: configuration).interactions == SyntheticPolls(configuration: configuration).interactions)
    }
}
