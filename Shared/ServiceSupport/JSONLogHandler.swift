#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line (`log.format = json`): `timestamp` (RFC 3339,
/// UTC, milliseconds), `level`, `label`, `message`, then every metadata key (the handler's, the metadata
/// provider's and the call's, the call winning) as a member of its own, so a log pipeline can filter on
/// `error` or `domain` without parsing the message. A metadata key that is one of the four names is
/// written with a `metadata.` prefix instead of hiding them. Each line goes out in one `write(2)`.
public struct JSONLogHandler: LogHandler {
    public static let reservedKeys: Set<String> = ["timestamp", "level", "label", "message"]

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: @Sendable (String) -> Void
    private let clock: @Sendable () -> (seconds: Int, milliseconds: Int)

    /// - Parameters:
    ///   - output: where each line (with its newline) goes; standard error by default.
    ///   - clock: the wall clock as seconds since 1970 and milliseconds (tests fix it).
    public init(
        label: String, metadataProvider: Logger.MetadataProvider? = nil, output: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStandardError,
        clock: @escaping @Sendable () -> (seconds: Int, milliseconds: Int) = JSONLogHandler.now
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.output = output
        self.clock = clock
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let call = event.metadata { merged.merge(call) { _, new in new } }
        let (seconds, milliseconds) = clock()
        var line = "{\"timestamp\":\"" + Self.rfc3339(seconds: seconds, milliseconds: milliseconds) + "\",\"level\":\"" + event.level.rawValue
            + "\",\"label\":"
        Self.appendString(label, to: &line)
        line += ",\"message\":"
        Self.appendString(event.message.description, to: &line)
        // Sorted: lines of the same event kind read alike.
        for key in merged.keys.sorted() {
            line += ","
            Self.appendString(Self.reservedKeys.contains(key) ? "metadata." + key : key, to: &line)
            line += ":"
            Self.append(merged[key]!, to: &line)
        }
        line += "}\n"
        output(line)
    }

    private static func append(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &line)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &line)
        case .array(let values):
            line += "["
            for (index, element) in values.enumerated() {
                if index > 0 { line += "," }
                append(element, to: &line)
            }
            line += "]"
        case .dictionary(let members):
            line += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                append(members[key]!, to: &line)
            }
            line += "}"
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped (RFC 8259); everything else as is.
    static func appendString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }

    /// `2026-12-06T21:30:05.123Z`.
    static func rfc3339(seconds: Int, milliseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func padded(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return padded(parts.tm_year + 1900, 4) + "-" + padded(parts.tm_mon + 1, 2) + "-" + padded(parts.tm_mday, 2) + "T" + padded(parts.tm_hour, 2) + ":"
            + padded(parts.tm_min, 2) + ":" + padded(parts.tm_sec, 2) + "." + padded(Int32(milliseconds), 3) + "Z"
    }

    @Sendable public static func now() -> (seconds: Int, milliseconds: Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return (Int(now.tv_sec), Int(now.tv_nsec) / 1_000_000)
    }

    /// One `write(2)` per line, so lines of concurrent loggers never interleave (the lock covers short writes).
    @Sendable public static func writeToStandardError(_ line: String) {
        var bytes = Array(line.utf8)
        standardErrorLock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }
}

private let standardErrorLock = Mutex(())
