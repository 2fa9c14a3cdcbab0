/// What one side of an experiment serves: a registered model version, or a strategy without a model.
///
/// Written as text in PostgreSQL, on the command line and in answers: `model:<version>`, `production` (the
/// domain's production model, whichever it is) or `popular` (the popular list alone, no model).
public enum ExperimentArm: Sendable, Hashable, CustomStringConvertible {
    case production
    case model(version: String)
    case popularOnly

    public init?(_ text: String) {
        switch text {
        case "production": self = .production
        case "popular": self = .popularOnly
        default:
            // A version is an identifier like the others: 1–128 characters, no control characters, no braces.
            // By scalars, not characters: a version starting with a combining mark (an emoji modifier) joins the
            // ':' into one character, and `hasPrefix("model:")` would refuse what the OpenAPI pattern allows.
            let scalars = text.unicodeScalars
            let version = scalars.dropFirst(6)
            guard scalars.starts(with: "model:".unicodeScalars), (1...128).contains(version.count),
                  !version.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "{" || $0 == "}" })
            else { return nil }
            self = .model(version: String(String.UnicodeScalarView(version)))
        }
    }

    public var description: String {
        switch self {
        case .production: "production"
        case .model(let version): "model:\(version)"
        case .popularOnly: "popular"
        }
    }
}
