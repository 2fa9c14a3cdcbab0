import Events
import HTTPSupport
import Hummingbird

/// The body of `POST /v1/predict`: rated movies, named by id or by title, and optionally `k` or the
/// `items` to predict exactly; or the legacy `[[titles…], [ratings…]]`. A bad body is a 400 naming the field.
struct PredictBody {
    static let maximumBytes = 256 * 1024
    static let maximumRatings = 500

    /// A movie as the client named it.
    enum MovieReference: Hashable {
        case id(String)
        case title(String)
    }

    struct RatedMovie {
        var reference: MovieReference
        var rating: Float
        /// Where it came from in the body, for errors: `ratings[2].title`, or `0[2]` in the legacy body.
        var field: String
    }

    var ratings: [RatedMovie]
    var k: Int?
    var legacy: Bool
    /// Item ids to predict exactly (in this order), instead of the best-predicted unrated movies.
    var items: [String]? = nil

    /// `{"ratings": [{"item_id" | "title", "rating"}…], "k"?}` or the legacy `[[titles…], [ratings…]]`.
    static func parse(_ buffer: ByteBuffer) throws -> PredictBody {
        let json: JSONValue
        do {
            json = try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw APIError(.badRequest, code: "invalid_json", message: "the body is not valid JSON: \(error)")
        }
        switch json {
        case .array(let parts):
            guard parts.count == 2, case .array(let titles) = parts[0], case .array(let ratings) = parts[1] else {
                throw APIError(.badRequest, code: "invalid_body", message: "the legacy body is [[titles…], [ratings…]]")
            }
            guard titles.count == ratings.count else {
                throw APIError(.badRequest, code: "length_mismatch", message: "\(titles.count) titles but \(ratings.count) ratings", field: "1")
            }
            try checkCount(titles.count, field: "0")
            return PredictBody(
                ratings: try zip(titles, ratings).enumerated().map { index, pair in
                    guard case .string(let title) = pair.0, !title.isEmpty else {
                        throw APIError(.badRequest, code: "invalid_title", message: "titles are non-empty strings", field: "0[\(index)]")
                    }
                    return RatedMovie(reference: .title(title), rating: try rating(pair.1, field: "1[\(index)]"), field: "0[\(index)]")
                },
                k: nil, legacy: true
            )
        case .object(let members):
            var ratings: [RatedMovie]?
            var k: Int?
            var items: [String]?
            for (key, value) in members {
                switch key {
                case "items":
                    guard case .array(let entries) = value else { throw APIError(.badRequest, code: "invalid_type", message: "items is an array of item ids", field: "items") }
                    guard (1...maximumRatings).contains(entries.count) else {
                        throw APIError(.badRequest, code: "invalid_count", message: "between 1 and \(maximumRatings) items", field: "items")
                    }
                    items = try entries.enumerated().map { index, entry in
                        guard case .string(let id) = entry else {
                            throw APIError(.badRequest, code: "invalid_type", message: "an item is an item id (a string)", field: "items[\(index)]")
                        }
                        return try InferenceQuery.identifier(id, field: "items[\(index)]")
                    }
                case "ratings":
                    guard case .array(let entries) = value else { throw APIError(.badRequest, code: "invalid_type", message: "ratings is an array", field: "ratings") }
                    try checkCount(entries.count, field: "ratings")
                    ratings = try entries.enumerated().map { try ratedMovie($1, field: "ratings[\($0)]") }
                case "k":
                    guard case .number(let text) = value, let number = Int(text), (1...100).contains(number) else {
                        throw APIError(.badRequest, code: "invalid_parameter", message: "k is an integer from 1 to 100", field: "k")
                    }
                    k = number
                default:
                    throw APIError(.badRequest, code: "unknown_field", message: "unknown field \(key) (ratings, items, k)", field: key)
                }
            }
            guard let ratings else { throw APIError(.badRequest, code: "missing_field", message: "ratings is required", field: "ratings") }
            return PredictBody(ratings: ratings, k: k, legacy: false, items: items)
        default:
            throw APIError(.badRequest, code: "invalid_body", message: "send {\"ratings\": [...]} or [[titles…], [ratings…]]")
        }
    }

    static func checkCount(_ count: Int, field: String) throws {
        guard (1...maximumRatings).contains(count) else {
            throw APIError(.badRequest, code: "invalid_count", message: "between 1 and \(maximumRatings) rated movies", field: field)
        }
    }

    static func ratedMovie(_ value: JSONValue, field: String) throws -> RatedMovie {
        guard case .object(let members) = value else { throw APIError(.badRequest, code: "invalid_type", message: "each rating is an object", field: field) }
        var reference: MovieReference?
        var value: Float?
        for (key, member) in members {
            switch (key, member) {
            case ("item_id", _) where reference != nil, ("title", _) where reference != nil:
                throw APIError(.badRequest, code: "ambiguous_movie", message: "name a movie by item_id or by title, not both", field: "\(field).\(key)")
            case ("item_id", .string(let id)):
                reference = .id(try InferenceQuery.identifier(id, field: "\(field).item_id"))
            case ("title", .string(let title)) where !title.isEmpty && title.unicodeScalars.count <= 300:
                reference = .title(title)
            case ("rating", _):
                value = try rating(member, field: "\(field).rating")
            case ("item_id", _), ("title", _):
                throw APIError(.badRequest, code: "invalid_type", message: "\(key) is a non-empty string", field: "\(field).\(key)")
            default:
                throw APIError(.badRequest, code: "unknown_field", message: "unknown field \(key) (item_id or title, rating)", field: "\(field).\(key)")
            }
        }
        guard let reference else { throw APIError(.badRequest, code: "missing_field", message: "item_id or title is required", field: "\(field).title") }
        guard let value else { throw APIError(.badRequest, code: "missing_field", message: "rating is required", field: "\(field).rating") }
        let name: String = if case .id = reference { "item_id" } else { "title" }
        return RatedMovie(reference: reference, rating: value, field: "\(field).\(name)")
    }

    static func rating(_ value: JSONValue, field: String) throws -> Float {
        // Checked as a Double, the width the contract's numbers have: a Float would round 0.4999999999 up to 0.5.
        guard case .number(let text) = value, let number = Double(text), number.isFinite, (0.5...5).contains(number) else {
            throw APIError(.badRequest, code: "invalid_rating", message: "a rating is a number from 0.5 to 5", field: field)
        }
        return Float(number)
    }
}
