import ClientConfiguration
import Events
import HTTPSupport
import Kafka
import ServiceConfiguration

/// Everything the ingest gateway is configured with. Each key is documented (`ingest-gateway
/// --help-config`) and has a default.
public struct IngestConfiguration: Sendable {
    public enum AuthMode: String, Sendable {
        /// Producers must send a configured API key.
        case apiKey = "api_key"
        /// No authentication: for local runs only; logged loudly at start.
        case open
    }

    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var authMode: AuthMode = .apiKey
    /// `name → key`. The name appears in logs and metrics; the key never does.
    public var apiKeys: [String: String] = [:]
    /// Names of `apiKeys` whose producers may send catalog events (`movie.added`, `poll.created`); other
    /// keys get 403 `catalog_not_permitted` for them. Ignored in open mode.
    public var catalogProducers: Set<String> = []
    /// Sustained events per second allowed per producer key (0 = unlimited), and the burst above it.
    public var rateLimitPerSecond: Double = 20_000
    public var rateLimitBurst: Double = 40_000
    public var maximumEventBytes: Int = 64 * 1024
    public var maximumBatchEvents: Int = 500
    public var maximumBatchBytes: Int = 1024 * 1024
    /// Recently accepted event ids remembered for idempotent retries.
    public var idempotencyCacheSize: Int = 100_000
    /// How often broker metadata is refreshed for `/readyz`.
    public var readinessInterval: Duration = .seconds(2)
    /// `Retry-After` sent with 503 answers.
    public var retryAfter: Duration = .seconds(2)
    public var eventPolicy = EventPolicy()
    public var topics = EventTopics()
    public var topicPartitions: Int = 6
    public var topicReplicationFactor: Int = 1
    /// Web origins allowed to post from a browser (CORS), e.g. the inference API's page.
    public var corsOrigins: [String] = []
    /// Connections idle this long are closed (`http.idle_timeout`).
    public var idleTimeout: Duration = .seconds(30)
    /// A request must arrive whole within this long (`http.request_read_timeout`).
    public var requestReadTimeout = HTTPServerSettings.defaultRequestReadTimeout
    /// Connections held open at once (`http.max_connections`).
    public var maximumConnections = HTTPServerSettings.defaultMaximumConnections
    /// One log line per request (`http.access_log`).
    public var accessLog = false
    public var producer: KafkaProducerConfiguration

    public init(producer: KafkaProducerConfiguration) {
        self.producer = producer
    }
}

extension IngestConfiguration {
    public enum Keys {
        public static let host = ConfigKey("http.host", default: "127.0.0.1", "Address the HTTP server binds to")
        public static let port = ConfigKey("http.port", default: "8080", "HTTP port")
        public static let authMode = ConfigKey("gateway.auth_mode", default: "api_key", "api_key (producers send X-API-Key or Authorization: Bearer) or open (local runs only)")
        public static let apiKeys = ConfigKey("gateway.api_keys", default: nil, "Producer keys as name:key pairs, comma-separated (or gateway.api_keys_file)", secret: true)
        public static let catalogProducers = ConfigKey(
            "gateway.catalog_producers", default: "",
            "Producer key names (from gateway.api_keys) that may send catalog events (movie.added, poll.created), comma-separated; empty: none (auth_mode open: all)"
        )
        public static let rateLimit = ConfigKey("gateway.rate_limit", default: "20000", "Sustained events per second per producer key (0 = unlimited)")
        public static let rateBurst = ConfigKey("gateway.rate_burst", default: "40000", "Events a producer key may send in a burst above the sustained rate")
        public static let maxEventBytes = ConfigKey("gateway.max_event_bytes", default: "65536", "Largest body of POST /v1/events")
        public static let maxBatchEvents = ConfigKey("gateway.max_batch_events", default: "500", "Most events in one POST /v1/events/batch")
        public static let maxBatchBytes = ConfigKey("gateway.max_batch_bytes", default: "1048576", "Largest body of POST /v1/events/batch")
        public static let idempotencyCache = ConfigKey("gateway.idempotency_cache", default: "100000", "Accepted event ids remembered for idempotent retries")
        public static let readinessInterval = ConfigKey("gateway.readiness_interval", default: "2s", "How often broker metadata is refreshed for /readyz")
        public static let retryAfter = ConfigKey("gateway.retry_after", default: "2s", "Retry-After sent with 503 answers")
        public static let strict = ConfigKey("events.reject_unknown_fields", default: "true", "Refuse unknown event fields (false: pass them through to Kafka)")
        public static let maxFutureSkew = ConfigKey("events.max_future_skew", default: "5m", "How far in the future occurred_at may lie")
        public static let maxAge = ConfigKey("events.max_age", default: "30d", "Events older than this are refused")
        public static let corsOrigins = ConfigKey(
            "gateway.cors_origins", default: "", "Web origins allowed to post events from a browser, comma-separated (e.g. http://127.0.0.1:8082 for the inference API's page); empty: none"
        )
        public static let movieTopic = ClientConfigKeys.movieTopic
        public static let pollTopic = ClientConfigKeys.pollTopic
        public static let partitions = ClientConfigKeys.topicPartitions
        public static let replication = ClientConfigKeys.topicReplication

        public static let all: [ConfigKey] = [
            host, port, HTTPServerSettings.idleTimeoutKey, HTTPServerSettings.requestTimeoutKey, HTTPServerSettings.maximumConnectionsKey, HTTPServerSettings.accessLogKey, authMode, apiKeys, catalogProducers, rateLimit, rateBurst, maxEventBytes, maxBatchEvents, maxBatchBytes, idempotencyCache,
            readinessInterval, retryAfter, corsOrigins, strict, maxFutureSkew, maxAge, movieTopic, pollTopic, partitions, replication,
        ] + ClientConfigKeys.kafkaProducer
    }

    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        self.init(producer: try KafkaProducerConfiguration(reading: reader, clientID: "ingest-gateway"))
        host = try reader.string(Keys.host)
        port = try reader.int(Keys.port, range: 0...65535)
        idleTimeout = try reader.duration(HTTPServerSettings.idleTimeoutKey)
        requestReadTimeout = try reader.duration(HTTPServerSettings.requestTimeoutKey)
        maximumConnections = try reader.int(HTTPServerSettings.maximumConnectionsKey, range: 1...1_000_000)
        accessLog = try reader.bool(HTTPServerSettings.accessLogKey)
        let mode = try reader.string(Keys.authMode)
        guard let authMode = AuthMode(rawValue: mode) else {
            throw ConfigurationError(key: Keys.authMode.name, message: "expected api_key or open, got \"\(mode)\"")
        }
        self.authMode = authMode
        apiKeys = try Self.parseKeys(reader.optionalString(Keys.apiKeys) ?? "")
        if authMode == .apiKey, apiKeys.isEmpty {
            throw ConfigurationError(key: Keys.apiKeys.name, message: "no API keys configured; set some, or gateway.auth_mode = open for a local run")
        }
        catalogProducers = try Set(reader.list(Keys.catalogProducers))
        // A misspelt name would leave the catalog producer refused at run time: refused at start instead.
        let unknown = catalogProducers.subtracting(apiKeys.keys)
        if authMode == .apiKey, !unknown.isEmpty {
            throw ConfigurationError(key: Keys.catalogProducers.name, message: "names no key of gateway.api_keys: \(unknown.sorted().joined(separator: ", "))")
        }
        rateLimitPerSecond = try reader.double(Keys.rateLimit)
        rateLimitBurst = try reader.double(Keys.rateBurst)
        maximumEventBytes = try reader.int(Keys.maxEventBytes, range: 256...(16 << 20))
        maximumBatchEvents = try reader.int(Keys.maxBatchEvents, range: 1...100_000)
        maximumBatchBytes = try reader.int(Keys.maxBatchBytes, range: 256...(64 << 20))
        idempotencyCacheSize = try reader.int(Keys.idempotencyCache, range: 0...10_000_000)
        readinessInterval = try reader.duration(Keys.readinessInterval)
        retryAfter = try reader.duration(Keys.retryAfter)
        corsOrigins = try reader.list(Keys.corsOrigins)
        eventPolicy = EventPolicy(
            rejectUnknownFields: try reader.bool(Keys.strict),
            maximumFutureSkew: try reader.duration(Keys.maxFutureSkew),
            maximumAge: try reader.duration(Keys.maxAge)
        )
        topics = try EventTopics(reading: reader)
        topicPartitions = try reader.int(Keys.partitions, range: 1...10_000)
        topicReplicationFactor = try reader.int(Keys.replication, range: 1...100)
    }

    /// `name:key,name2:key2` (whitespace around items ignored).
    static func parseKeys(_ text: String) throws(ConfigurationError) -> [String: String] {
        var keys: [String: String] = [:]
        for item in text.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].count >= 16 else {
                throw ConfigurationError(key: Keys.apiKeys.name, message: "each entry is name:key with a key of at least 16 characters")
            }
            keys[String(parts[0])] = String(parts[1])
        }
        return keys
    }
}
