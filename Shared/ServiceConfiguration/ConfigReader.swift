import Foundation

/// Reads configuration for one service, in this order of precedence:
/// 1. the environment (`STREAMREC_REDIS_HOST`), 2. the service's file (`configs/<service>.conf`:
/// `key = value` lines, `#` comments), 3. the key's documented default.
///
/// A secret may also come from a file: `STREAMREC_POSTGRES_PASSWORD_FILE=/run/secrets/pg` (or
/// `postgres.password_file = ...`), as Docker and Kubernetes mount them. Unknown keys in the file are an
/// error, so a typo cannot silently fall back to a default.
public struct ConfigReader: Sendable {
    public let keys: [String: ConfigKey]
    public let fileValues: [String: String]
    public let environment: [String: String]
    public let source: String

    public init(keys: [ConfigKey], fileValues: [String: String], environment: [String: String], source: String) throws(ConfigurationError) {
        var byName: [String: ConfigKey] = [:]
        for key in keys { byName[key.name] = key }
        self.keys = byName
        for name in fileValues.keys where byName[name] == nil {
            let base = name.hasSuffix("_file") ? String(name.dropLast(5)) : name
            if byName[base] == nil { throw ConfigurationError(key: name, message: "unknown key in \(source)") }
        }
        self.fileValues = fileValues
        self.environment = environment
        self.source = source
    }

    /// Loads `<directory>/<service>.conf` if it exists (a missing file means "all defaults").
    public static func load(
        service: String, keys: [ConfigKey], directory: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ConfigReader {
        let directory = directory ?? environment["STREAMREC_CONFIG_DIR"] ?? "configs"
        let path = "\(directory)/\(service).conf"
        var values: [String: String] = [:]
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            values = try parse(text, source: path)
        }
        return try ConfigReader(keys: keys, fileValues: values, environment: environment, source: path)
    }

    /// Parses `key = value` lines. Values may be quoted with `"` to keep leading/trailing spaces or `#`.
    public static func parse(_ text: String, source: String) throws(ConfigurationError) -> [String: String] {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError(key: "\(source):\(number + 1)", message: "expected `key = value`")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            line = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("\""), let close = line.dropFirst().firstIndex(of: "\"") {
                line = String(line[line.index(after: line.startIndex)..<close])
            } else if let comment = line.range(of: " #") {
                line = line[..<comment.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            values[key] = line
        }
        return values
    }

    /// The raw value, or `nil` if unset and without default. A secret holding the examples' placeholder
    /// (`change-me…`, as deploy/secrets/*.example ship) is refused: it passes length checks, and a
    /// deployment started from the examples would otherwise run with a published secret.
    public func optionalString(_ key: ConfigKey) throws(ConfigurationError) -> String? {
        let value = try rawString(key)
        if key.isSecret, let value, value.lowercased().contains("change-me") {
            throw ConfigurationError(key: key.name, message: "holds the examples' placeholder (change-me…); set a real secret")
        }
        return value
    }

    private func rawString(_ key: ConfigKey) throws(ConfigurationError) -> String? {
        precondition(keys[key.name] != nil, "\(key.name) is not declared for this service")
        // The environment wins over the file, for values and for secret files alike.
        if let value = environment[key.environmentVariable] { return value }
        if let path = environment[key.environmentVariable + "_FILE"] { return try Self.secret(at: path, key: key) }
        if let value = fileValues[key.name] { return value }
        if let path = fileValues[key.name + "_file"] { return try Self.secret(at: path, key: key) }
        // The service's declared key: it may carry a default of its own (``ConfigKey/withDefault(_:because:)``).
        return keys[key.name]!.defaultValue
    }

    private static func secret(at path: String, key: ConfigKey) throws(ConfigurationError) -> String {
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(key: key.name, message: "cannot read secret file \(path)")
        }
        return contents.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func string(_ key: ConfigKey) throws(ConfigurationError) -> String {
        guard let value = try optionalString(key) else {
            throw ConfigurationError(key: key.name, message: "required; set \(key.environmentVariable) or \(key.name) in \(source)")
        }
        return value
    }

    public func int(_ key: ConfigKey, range: ClosedRange<Int>? = nil) throws(ConfigurationError) -> Int {
        let text = try string(key)
        guard let value = Int(text) else { throw ConfigurationError(key: key.name, message: "expected an integer, got \(quoted(key, text))") }
        if let range, !range.contains(value) {
            throw ConfigurationError(key: key.name, message: "must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }

    public func double(_ key: ConfigKey) throws(ConfigurationError) -> Double {
        let text = try string(key)
        guard let value = Double(text), value.isFinite else { throw ConfigurationError(key: key.name, message: "expected a number, got \(quoted(key, text))") }
        return value
    }

    public func bool(_ key: ConfigKey) throws(ConfigurationError) -> Bool {
        switch try string(key).lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        case let other: throw ConfigurationError(key: key.name, message: "expected true or false, got \(quoted(key, other))")
        }
    }

    /// Durations as `250ms`, `5s`, `2m`, `1h`, `7d`.
    public func duration(_ key: ConfigKey) throws(ConfigurationError) -> Duration {
        let text = try string(key)
        guard let value = Self.parseDuration(text) else {
            throw ConfigurationError(key: key.name, message: "expected a duration like 250ms, 5s, 2m, 1h or 7d, got \(quoted(key, text))")
        }
        return value
    }

    /// Comma-separated values, trimmed, empty items dropped.
    public func list(_ key: ConfigKey) throws(ConfigurationError) -> [String] {
        try string(key).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // "ms" must win over "s": "250ms" has suffix "s" too, and "250m" is not a number.
            guard let value = Double(number), value >= 0, value.isFinite else { continue }
            return .milliseconds(Int64((value * seconds * 1000).rounded()))
        }
        return nil
    }

    private func quoted(_ key: ConfigKey, _ value: String) -> String {
        key.isSecret ? "(hidden)" : "\"\(value)\""
    }
}
