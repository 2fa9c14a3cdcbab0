/// One documented configuration key: its name in `configs/*.conf`, its default, and what it does.
/// The environment variable is derived: `redis.host` → `STREAMREC_REDIS_HOST`.
public struct ConfigKey: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    /// `nil` means required: startup fails with a clear error if it is not set anywhere.
    public let defaultValue: String?
    public let summary: String
    /// Never logged or echoed back (passwords, API keys).
    public let isSecret: Bool

    public init(_ name: String, default defaultValue: String?, _ summary: String, secret: Bool = false) {
        self.name = name
        self.defaultValue = defaultValue
        self.summary = summary
        isSecret = secret
    }

    /// The same key with this service's own default: a shared key (e.g. `redis.io`) that one service
    /// runs differently. Declared in the service's key list, it is what the reader falls back to and what
    /// the service's `--config-template` shows, so regenerating `configs/` cannot drop the setting.
    public func withDefault(_ value: String, because reason: String) -> ConfigKey {
        ConfigKey(name, default: value, summary + "; this service: \(value), \(reason)", secret: isSecret)
    }

    public var environmentVariable: String {
        "STREAMREC_" + name.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    public var description: String { name }
}
