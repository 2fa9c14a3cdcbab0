import Events
import Features
import Foundation
import HTTPSupport
import Hummingbird

/// The inference API's request parameters, parsed in one place so that each means the same on every
/// route and fails alike (400 `invalid_parameter` naming the field): the query's, read from one parse of
/// the query string (`request.uri.queryParameters` parses it again on every access), and the identifiers
/// of paths and bodies.
struct InferenceQuery {
    let parameters: Parameters

    init(_ request: Request) {
        parameters = request.uri.queryParameters
    }

    /// `domain=movies|polls`; movies when absent.
    func domain() throws -> EventDomain {
        guard let name = parameters.get("domain") else { return .movie }
        guard let domain = EventDomain(name: name) else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "domain is movies or polls", field: "domain")
        }
        return domain
    }

    /// An integer parameter within `range`; `value` when absent.
    func int(_ name: String, in range: ClosedRange<Int>, default value: Int) throws -> Int {
        guard let text = parameters.get(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "\(name) is an integer from \(range.lowerBound) to \(range.upperBound)", field: name)
        }
        return number
    }

    /// `k=`: how many items an answer lists, 1–100; 20 when absent.
    func k() throws -> Int {
        try int("k", in: 1...100, default: 20)
    }

    /// `true` or `false`; `value` when absent.
    func bool(_ name: String, default value: Bool) throws -> Bool {
        switch parameters.get(name) {
        case nil: return value
        case "true"?: return true
        case "false"?: return false
        default: throw APIError(.badRequest, code: "invalid_parameter", message: "\(name) is true or false", field: name)
        }
    }

    /// `window=`, one of the configured windows; nil when absent.
    func window(of features: FeatureConfiguration) throws -> String? {
        guard let window = parameters.get("window") else { return nil }
        guard features.window(named: window) != nil else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "window is one of \(features.windows.map(\.name))", field: "window")
        }
        return window
    }

    /// The group a list is restricted to: `genre=` for movies, `category=` for polls; nil when absent.
    func group(_ domain: EventDomain) -> String? {
        parameters.get(domain == .movie ? "genre" : "category")
    }

    /// `exclude=a,b,…`: items the caller does not want listed, at most 500.
    func excludedItems() throws -> Set<String> {
        let exclude = Set((parameters.get("exclude") ?? "").split(separator: ",").map(String.init))
        guard exclude.count <= 500 else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "at most 500 excluded items", field: "exclude")
        }
        return exclude
    }

    /// `min_support=`, a number ≥ 0; `value` when absent.
    func minimumSupport(default value: Float) throws -> Float {
        guard let text = parameters.get("min_support") else { return value }
        // As a Double: a Float turns -5e-324 into -0.0, which would pass "≥ 0".
        guard let number = Double(text), number.isFinite, number >= 0 else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "min_support is a number ≥ 0", field: "min_support")
        }
        return Float(number)
    }

    /// `title=`, what someone typed: required, 1–300 characters, percent-decoded.
    func title() throws -> String {
        guard let title = parameters.get("title").flatMap({ $0.removingPercentEncoding ?? String($0) }), !title.isEmpty, title.unicodeScalars.count <= 300 else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "title is required (1–300 bytes)", field: "title")
        }
        return title
    }

    /// An identifier from a path parameter or a body, percent-decoded: 1–128 characters (code points, as
    /// the OpenAPI file's maxLength counts them), no control characters or braces. The event contract's ids
    /// are at most 128 bytes, so a longer one here is valid to ask for and simply unknown.
    static func identifier(_ raw: String?, field: String) throws -> String {
        // Foundation's percent-decoding is costly on this hot path; most ids have nothing to decode.
        let text = raw.flatMap { $0.utf8.contains(UInt8(ascii: "%")) ? $0.removingPercentEncoding : $0 }
        guard let text, !text.isEmpty, text.unicodeScalars.count <= EventLimits.idMaxBytes,
            !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "{" || $0 == "}" })
        else { throw APIError(.badRequest, code: "invalid_parameter", message: "\(field) must be 1–\(EventLimits.idMaxBytes) characters without control characters or braces", field: field) }
        return text
    }
}
