/// A configuration value that is missing, malformed or unknown, with the key that names it (secrets' values
/// are never quoted).
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let key: String
    public let message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "configuration \(key): \(message)" }
}
