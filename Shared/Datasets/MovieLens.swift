import Events
import Recommender

/// One rating of a public dataset.
public struct RatingRecord: Sendable, Hashable {
    public var user: String
    public var item: String
    public var rating: Double
    /// Seconds since the Unix epoch.
    public var timestamp: Int64

    public init(user: String, item: String, rating: Double, timestamp: Int64) {
        self.user = user
        self.item = item
        self.rating = rating
        self.timestamp = timestamp
    }
}

public struct MovieRecord: Sendable, Hashable {
    public var id: String
    public var title: String
    public var year: Int?
    public var genres: [String]

    public init(id: String, title: String, year: Int?, genres: [String]) {
        self.id = id
        self.title = title
        self.year = year
        self.genres = genres
    }
}

public struct DatasetFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// The MovieLens layouts, parsed from file contents (pure: reading the files is the caller's job).
///
/// | layout | ratings | movies |
/// | --- | --- | --- |
/// | 100K (GroupLens) | `u.data`: user⇥item⇥rating⇥time | `u.item`: `id\|Title (Year)\|date\|\|url\|19 genre flags`, Latin-1 |
/// | 100K (RecBole) | `ml-100k.inter`: header, then user⇥item⇥rating⇥time | `ml-100k.item`: header, id⇥title⇥year⇥space-separated genres |
/// | 1M | `ratings.dat`: `user::item::rating::time` | `movies.dat`: `id::Title (Year)::Genre\|Genre`, Latin-1 |
/// | 20M / 25M | `ratings.csv`: header, `userId,movieId,rating,timestamp` | `movies.csv`: header, `movieId,title,genres` (CSV quoting) |
public enum MovieLens {
    public enum Layout: String, Sendable, CaseIterable {
        case grouplens100K = "100k"
        case recbole100K = "recbole-100k"
        case oneMillion = "1m"
        case csv = "csv"

        /// The ratings and movies file names of this layout.
        public var files: (ratings: String, movies: String) {
            switch self {
            case .grouplens100K: ("u.data", "u.item")
            case .recbole100K: ("ml-100k.inter", "ml-100k.item")
            case .oneMillion: ("ratings.dat", "movies.dat")
            case .csv: ("ratings.csv", "movies.csv")
            }
        }
    }

    /// The 100K `u.item` genre flag columns, in order (`u.genre`).
    public static let grouplens100KGenres = [
        "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
        "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    ]

    /// Bytes as text: UTF-8 where valid, otherwise Latin-1 (the older GroupLens files are Latin-1).
    public static func text(_ bytes: [UInt8]) -> String {
        if let utf8 = String(validating: bytes, as: UTF8.self) { return utf8 }
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(Unicode.Scalar(byte)) }
        return String(text)
    }

    /// Ratings of any layout, through the recommender core's one rating-line parser (``RatingsDataset``),
    /// which already reads every separator and skips a header; errors name this layout's file.
    public static func parseRatings(_ text: String, layout: Layout) throws(DatasetFileError) -> [RatingRecord] {
        let dataset: RatingsDataset
        do {
            dataset = try RatingsDataset.parse(text)
        } catch {
            throw DatasetFileError(file: layout.files.ratings, line: error.line, "expected user, item, rating, timestamp")
        }
        return dataset.interactions.map { interaction in
            RatingRecord(
                user: dataset.users.id(at: interaction.user), item: dataset.items.id(at: interaction.item),
                rating: Double(interaction.value), timestamp: interaction.timestamp
            )
        }
    }

    public static func parseMovies(_ text: String, layout: Layout) throws(DatasetFileError) -> [MovieRecord] {
        let file = layout.files.movies
        var movies: [MovieRecord] = []
        for (index, line) in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            switch layout {
            case .grouplens100K:
                let fields = line.split(separator: "|", omittingEmptySubsequences: false)
                guard fields.count >= 5 + grouplens100KGenres.count else { throw DatasetFileError(file: file, line: number, "expected 24 fields") }
                let flags = fields[(fields.count - grouplens100KGenres.count)...]
                let genres = zip(grouplens100KGenres, flags).filter { $0.1 == "1" && $0.0 != "unknown" }.map(\.0)
                let (title, year) = MovieTitle.splitYear(String(fields[1]))
                movies.append(MovieRecord(id: String(fields[0]), title: title, year: year, genres: genres))
            case .recbole100K:
                if index == 0 { continue }
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard fields.count >= 4 else { throw DatasetFileError(file: file, line: number, "expected id, title, year, genres") }
                movies.append(MovieRecord(
                    id: String(fields[0]), title: String(fields[1]), year: Int(fields[2]),
                    genres: fields[3].split(separator: " ").map(String.init)
                ))
            case .oneMillion:
                let fields = line.split(separator: "::", omittingEmptySubsequences: false)
                guard fields.count >= 3 else { throw DatasetFileError(file: file, line: number, "expected id::title::genres") }
                let (title, year) = MovieTitle.splitYear(String(fields[1]))
                movies.append(MovieRecord(id: String(fields[0]), title: title, year: year, genres: genreList(fields[2])))
            case .csv:
                if index == 0 { continue }
                let fields = csvFields(line)
                guard fields.count >= 3 else { throw DatasetFileError(file: file, line: number, "expected movieId,title,genres") }
                let (title, year) = MovieTitle.splitYear(fields[1])
                movies.append(MovieRecord(id: fields[0], title: title, year: year, genres: genreList(Substring(fields[2]))))
            }
        }
        return movies
    }

    static func genreList(_ text: Substring) -> [String] {
        text == "(no genres listed)" ? [] : text.split(separator: "|").map(String.init)
    }

    /// One CSV line: fields separated by commas; a quoted field may contain commas and doubled quotes.
    static func csvFields(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else {
                            quoted = false
                            if next == "," { fields.append(current); current = "" } else { current.append(next) }
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" && current.isEmpty {
                quoted = true
            } else if character == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String { String(self).trimmingCharacters(in: set) }
}
