import Events

/// What a model artifact says about itself.
public struct ModelManifest: Sendable, Hashable {
    /// What the payload holds (e.g. `movie-bundle`: implicit ALS + biased MF + popularity).
    public var kind: String
    /// `movies` or `polls`.
    public var domain: String
    /// Unique per artifact: `<domain>-<UTC yyyyMMddHHmmss>-<8 hex>`.
    public var version: String
    public var createdAt: EventTimestamp
    /// The training data: rows, newest event time and a hash of the rows' content.
    public var dataRows: Int
    public var dataMaxEventTime: EventTimestamp?
    public var dataContentHash: String
    public var hyperParameters: [String: String]
    /// Validation metrics, e.g. `ndcg@10`, `rmse`, and the same for popularity as a baseline.
    public var metrics: [String: Double]
    /// The source revision that trained it (`git rev-parse HEAD`, or `unknown`).
    public var codeRevision: String

    public init(
        kind: String, domain: String, version: String, createdAt: EventTimestamp, dataRows: Int, dataMaxEventTime: EventTimestamp?,
        dataContentHash: String, hyperParameters: [String: String], metrics: [String: Double], codeRevision: String
    ) {
        self.kind = kind
        self.domain = domain
        self.version = version
        self.createdAt = createdAt
        self.dataRows = dataRows
        self.dataMaxEventTime = dataMaxEventTime
        self.dataContentHash = dataContentHash
        self.hyperParameters = hyperParameters
        self.metrics = metrics
        self.codeRevision = codeRevision
    }

    public var json: JSONValue {
        .object([
            ("kind", .string(kind)), ("domain", .string(domain)), ("version", .string(version)),
            ("created_at", .string(createdAt.description)),
            ("data", .object([
                ("rows", .number(String(dataRows))),
                ("max_event_time", dataMaxEventTime.map { .string($0.description) } ?? .null),
                ("content_hash", .string(dataContentHash)),
            ])),
            ("hyper_parameters", .object(hyperParameters.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("metrics", .object(metrics.sorted { $0.key < $1.key }.map { ($0.key, .number(String($0.value))) })),
            ("code_revision", .string(codeRevision)),
        ])
    }

    public init(json: JSONValue) throws(ModelArtifactError) {
        func field(_ object: JSONValue, _ name: String) throws(ModelArtifactError) -> JSONValue {
            guard case .object(let members) = object, let value = members.first(where: { $0.key == name })?.value else {
                throw .invalidManifest("missing \(name)")
            }
            return value
        }
        func string(_ value: JSONValue, _ name: String) throws(ModelArtifactError) -> String {
            guard case .string(let text) = value else { throw .invalidManifest("\(name) is not a string") }
            return text
        }
        func time(_ value: JSONValue, _ name: String) throws(ModelArtifactError) -> EventTimestamp {
            guard case .string(let text) = value, let timestamp = RFC3339.parse(text) else { throw .invalidManifest("\(name) is not an RFC 3339 time") }
            return timestamp
        }
        let data = try field(json, "data")
        guard case .number(let rows) = try field(data, "rows"), let rowCount = Int(rows) else { throw .invalidManifest("data.rows") }
        let maxTime = try field(data, "max_event_time")
        var hyperParameters: [String: String] = [:]
        if case .object(let members) = try field(json, "hyper_parameters") {
            for (key, value) in members { hyperParameters[key] = try string(value, key) }
        }
        var metrics: [String: Double] = [:]
        if case .object(let members) = try field(json, "metrics") {
            for (key, value) in members {
                guard case .number(let text) = value, let number = Double(text) else { throw .invalidManifest("metric \(key)") }
                metrics[key] = number
            }
        }
        self.init(
            kind: try string(field(json, "kind"), "kind"), domain: try string(field(json, "domain"), "domain"),
            version: try string(field(json, "version"), "version"), createdAt: try time(field(json, "created_at"), "created_at"),
            dataRows: rowCount, dataMaxEventTime: maxTime == .null ? nil : try time(maxTime, "data.max_event_time"),
            dataContentHash: try string(field(data, "content_hash"), "data.content_hash"),
            hyperParameters: hyperParameters, metrics: metrics, codeRevision: try string(field(json, "code_revision"), "code_revision")
        )
    }
}

public enum ModelArtifactError: Error, Sendable, Hashable, CustomStringConvertible {
    case notAnArtifact
    case unsupportedFormatVersion(UInt32)
    /// The file is shorter (or longer) than its header says.
    case truncated(expectedBytes: Int, actualBytes: Int)
    case checksumMismatch(part: String)
    case invalidManifest(String)
    case invalidPayload(String)
    case io(String)

    public var description: String {
        switch self {
        case .notAnArtifact: "not a StreamRec model artifact (bad magic)"
        case .unsupportedFormatVersion(let version): "artifact format version \(version) is not supported (this build reads \(ModelArtifact.formatVersion))"
        case .truncated(let expected, let actual): "artifact is \(actual) bytes, its header says \(expected): truncated or corrupted"
        case .checksumMismatch(let part): "sha256 of the \(part) does not match the header: corrupted"
        case .invalidManifest(let reason): "invalid manifest: \(reason)"
        case .invalidPayload(let reason): "invalid payload: \(reason)"
        case .io(let reason): "artifact I/O: \(reason)"
        }
    }
}

/// The artifact file format: a fixed header, then the manifest (JSON), then the payload.
///
/// ```
/// 0   8   magic "SRMODEL1"
/// 8   4   format version (UInt32, little endian) = 1
/// 12  4   manifest length M
/// 16  8   payload length P
/// 24  32  sha256 of the manifest bytes
/// 56  32  sha256 of the payload bytes
/// 88  M   manifest (UTF-8 JSON)
/// 88+M P  payload
/// ```
/// A file is accepted only if its length is exactly 88 + M + P and both digests match: a truncated or
/// corrupted file is refused as a whole, never half-loaded.
public struct ModelArtifact: Sendable {
    public static let magic: [UInt8] = Array("SRMODEL1".utf8)
    public static let formatVersion: UInt32 = 1
    static let headerSize = 88

    public var manifest: ModelManifest
    public var payload: [UInt8]

    public init(manifest: ModelManifest, payload: [UInt8]) {
        self.manifest = manifest
        self.payload = payload
    }

    public var payloadSHA256: String { SHA256.hex(SHA256.hash(payload)) }

    public func encoded() -> [UInt8] {
        var writer = JSONWriter(capacity: 1024)
        writer.value(manifest.json)
        let manifestBytes = writer.bytes
        var bytes = Self.magic
        bytes.reserveCapacity(Self.headerSize + manifestBytes.count + payload.count)
        bytes.appendLittleEndian(Self.formatVersion)
        bytes.appendLittleEndian(UInt32(manifestBytes.count))
        bytes.appendLittleEndian(UInt64(payload.count))
        bytes.append(contentsOf: SHA256.hash(manifestBytes))
        bytes.append(contentsOf: SHA256.hash(payload))
        bytes.append(contentsOf: manifestBytes)
        bytes.append(contentsOf: payload)
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(ModelArtifactError) -> ModelArtifact {
        guard bytes.count >= headerSize, Array(bytes[0..<8]) == magic else {
            if bytes.count < headerSize, bytes.starts(with: magic) { throw .truncated(expectedBytes: headerSize, actualBytes: bytes.count) }
            throw .notAnArtifact
        }
        let version = bytes.readLittleEndian(UInt32.self, at: 8)
        guard version == formatVersion else { throw .unsupportedFormatVersion(version) }
        let manifestLength = Int(bytes.readLittleEndian(UInt32.self, at: 12))
        let payloadLength = bytes.readLittleEndian(UInt64.self, at: 16)
        guard payloadLength < UInt64(Int.max / 2) else { throw .truncated(expectedBytes: Int.max, actualBytes: bytes.count) }
        let expected = headerSize + manifestLength + Int(payloadLength)
        guard bytes.count == expected else { throw .truncated(expectedBytes: expected, actualBytes: bytes.count) }
        let manifestBytes = bytes[headerSize..<(headerSize + manifestLength)]
        let payload = Array(bytes[(headerSize + manifestLength)...])
        guard SHA256.hash(manifestBytes) == Array(bytes[24..<56]) else { throw .checksumMismatch(part: "manifest") }
        guard SHA256.hash(payload) == Array(bytes[56..<88]) else { throw .checksumMismatch(part: "payload") }
        let json: JSONValue
        do {
            json = try JSONParser.parse(manifestBytes)
        } catch {
            throw .invalidManifest("\(error)")
        }
        return ModelArtifact(manifest: try ModelManifest(json: json), payload: payload)
    }
}

extension [UInt8] {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { append(contentsOf: $0) }
    }

    func readLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size { value |= T(self[offset + index]) << (8 * index) }
        return value
    }
}
