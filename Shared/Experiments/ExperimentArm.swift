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
            guard text.hasPrefix("model:"), text.count > 6 else { return nil }
            self = .model(version: String(text.dropFirst(6)))
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
