import CRdKafka
import ClientRuntime

/// How records are compressed on the wire (`compression.codec`).
public enum KafkaCompression: String, Sendable, Hashable, CaseIterable {
    case none, gzip, snappy, lz4, zstd
}

/// Where a consumer group starts on a partition that has no committed offset.
public enum KafkaOffsetReset: String, Sendable, Hashable {
    /// From the oldest record still in the log. The safe choice: nothing is skipped.
    case earliest
    /// From the next record produced. (Unreliable with the local Tansu broker, whose reported end
    /// offset is wrong; use committed offsets with `earliest` there.)
    case latest
}

/// Producer settings. Defaults give the strongest delivery guarantee: idempotence with `acks=all`.
public struct KafkaProducerConfiguration: Sendable, Hashable {
    /// `host:port` of one or more brokers.
    public var bootstrapServers: [String]
    public var clientID: String
    /// Idempotent producer: no duplicates or reordering from internal retries. Implies `acks=all`.
    public var enableIdempotence: Bool
    /// `-1`/`all` waits for all in-sync replicas.
    public var acks: String
    public var compression: KafkaCompression
    /// How long librdkafka waits to fill a batch (`linger.ms`): latency traded for throughput.
    public var linger: Duration
    /// Most records per batch (`batch.num.messages`).
    public var batchMaxMessages: Int
    /// Bound on librdkafka's local queue; beyond it sends fail with `_QUEUE_FULL` (backpressure).
    public var queueMaxMessages: Int
    /// Bound on the local queue in kilobytes.
    public var queueMaxKilobytes: Int
    /// A record not acknowledged within this time fails with `_MSG_TIMED_OUT` (`message.timeout.ms`).
    public var deliveryTimeout: Duration
    /// How long the poll thread blocks per wait for delivery reports; does not add latency.
    public var pollInterval: Duration
    /// TLS and SASL (``KafkaSecurity``); plaintext by default.
    public var security: KafkaSecurity
    /// Any other librdkafka property, applied last.
    public var additionalProperties: [String: String]

    public init(
        bootstrapServers: [String],
        clientID: String = "streamrec",
        security: KafkaSecurity = .plaintext,
        enableIdempotence: Bool = true,
        acks: String = "all",
        compression: KafkaCompression = .lz4,
        linger: Duration = .milliseconds(5),
        batchMaxMessages: Int = 10_000,
        queueMaxMessages: Int = 100_000,
        queueMaxKilobytes: Int = 1_048_576,
        deliveryTimeout: Duration = .seconds(30),
        pollInterval: Duration = .milliseconds(100),
        additionalProperties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.enableIdempotence = enableIdempotence
        self.acks = acks
        self.compression = compression
        self.linger = linger
        self.batchMaxMessages = batchMaxMessages
        self.queueMaxMessages = queueMaxMessages
        self.queueMaxKilobytes = queueMaxKilobytes
        self.deliveryTimeout = deliveryTimeout
        self.pollInterval = pollInterval
        self.security = security
        self.additionalProperties = additionalProperties
    }

    /// The librdkafka properties this configuration sets.
    public var properties: [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": bootstrapServers.joined(separator: ","),
            "client.id": clientID,
            "enable.idempotence": String(enableIdempotence),
            "acks": acks,
            "compression.codec": compression.rawValue,
            "linger.ms": String(linger.milliseconds),
            "batch.num.messages": String(batchMaxMessages),
            "queue.buffering.max.messages": String(queueMaxMessages),
            "queue.buffering.max.kbytes": String(queueMaxKilobytes),
            "message.timeout.ms": String(max(1, deliveryTimeout.milliseconds)),
        ]
        properties.merge(security.properties) { _, new in new }
        properties.merge(additionalProperties) { _, new in new }
        return properties
    }
}

/// Consumer-group settings. Offsets are committed by the application (after it applied the
/// records), never automatically.
public struct KafkaConsumerConfiguration: Sendable, Hashable {
    public var bootstrapServers: [String]
    public var groupID: String
    public var clientID: String
    public var autoOffsetReset: KafkaOffsetReset
    /// The group coordinator evicts a member silent for this long. A join takes about half of it.
    public var sessionTimeout: Duration
    /// `group.instance.id`: static group membership. A member that restarts with the same id takes its
    /// partitions back without a rebalance, instead of the group waiting out the dead member's session.
    /// Each instance needs its own stable id (e.g. the pod name); nil is dynamic membership.
    public var groupInstanceID: String?
    public var heartbeatInterval: Duration
    /// A member that does not ask for records for this long leaves the group.
    public var maxPollInterval: Duration
    /// `partition.assignment.strategy`; `cooperative-sticky` switches to incremental rebalancing.
    public var assignmentStrategy: String
    /// Most records handed out in one batch.
    public var maxBatchSize: Int
    /// Most bytes of record values in one batch: the batch ends with the record that reaches it, so
    /// large records cannot make a batch of `maxBatchSize` hold gigabytes.
    public var maxBatchBytes: Int = 64 << 20
    /// After the first record of a batch, how long to wait for more before handing the batch out.
    public var batchLinger: Duration
    /// Blocking slice of the poll loop; also how quickly `close()` is noticed.
    public var pollInterval: Duration
    /// `fetch.wait.max.ms`: how long the broker may hold a fetch while no new records exist. Brokers
    /// that do not answer a held fetch as soon as records arrive (the local Tansu one) add up to this
    /// much latency to every record, so it is 50 ms rather than librdkafka's 500 ms.
    public var fetchWaitMax: Duration = .milliseconds(50)
    /// TLS and SASL (``KafkaSecurity``); plaintext by default.
    public var security: KafkaSecurity
    public var additionalProperties: [String: String]

    public init(
        bootstrapServers: [String],
        groupID: String,
        clientID: String = "streamrec",
        security: KafkaSecurity = .plaintext,
        autoOffsetReset: KafkaOffsetReset = .earliest,
        sessionTimeout: Duration = .seconds(10),
        groupInstanceID: String? = nil,
        heartbeatInterval: Duration = .seconds(3),
        maxPollInterval: Duration = .seconds(300),
        assignmentStrategy: String = "range,roundrobin",
        maxBatchSize: Int = 1000,
        batchLinger: Duration = .milliseconds(2),
        pollInterval: Duration = .milliseconds(100),
        additionalProperties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.clientID = clientID
        self.autoOffsetReset = autoOffsetReset
        self.sessionTimeout = sessionTimeout
        self.groupInstanceID = groupInstanceID
        self.heartbeatInterval = heartbeatInterval
        self.maxPollInterval = maxPollInterval
        self.assignmentStrategy = assignmentStrategy
        self.maxBatchSize = maxBatchSize
        self.batchLinger = batchLinger
        self.pollInterval = pollInterval
        self.security = security
        self.additionalProperties = additionalProperties
    }

    public var properties: [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": bootstrapServers.joined(separator: ","),
            "group.id": groupID,
            "client.id": clientID,
            "auto.offset.reset": autoOffsetReset.rawValue,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "session.timeout.ms": String(sessionTimeout.milliseconds),
            "heartbeat.interval.ms": String(heartbeatInterval.milliseconds),
            "max.poll.interval.ms": String(maxPollInterval.milliseconds),
            "partition.assignment.strategy": assignmentStrategy,
            "fetch.wait.max.ms": String(fetchWaitMax.milliseconds),
        ]
        if let groupInstanceID { properties["group.instance.id"] = groupInstanceID }
        properties.merge(security.properties) { _, new in new }
        properties.merge(additionalProperties) { _, new in new }
        return properties
    }
}

/// Settings for topic administration.
public struct KafkaAdminConfiguration: Sendable, Hashable {
    public var bootstrapServers: [String]
    public var clientID: String
    /// Bound on each admin request.
    public var requestTimeout: Duration
    /// TLS and SASL (``KafkaSecurity``); plaintext by default.
    public var security: KafkaSecurity
    public var additionalProperties: [String: String]

    public init(
        bootstrapServers: [String], clientID: String = "streamrec-admin", requestTimeout: Duration = .seconds(15),
        security: KafkaSecurity = .plaintext, additionalProperties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.requestTimeout = requestTimeout
        self.security = security
        self.additionalProperties = additionalProperties
    }

    /// An admin client for the brokers (and with the security settings) of a producer.
    public init(for producer: KafkaProducerConfiguration, requestTimeout: Duration = .seconds(15)) {
        self.init(bootstrapServers: producer.bootstrapServers, requestTimeout: requestTimeout, security: producer.security)
    }

    /// An admin client for the brokers (and with the security settings) of a consumer.
    public init(for consumer: KafkaConsumerConfiguration, requestTimeout: Duration = .seconds(15)) {
        self.init(bootstrapServers: consumer.bootstrapServers, requestTimeout: requestTimeout, security: consumer.security)
    }

    public var properties: [String: String] {
        var properties = ["bootstrap.servers": bootstrapServers.joined(separator: ","), "client.id": clientID]
        properties.merge(security.properties) { _, new in new }
        properties.merge(additionalProperties) { _, new in new }
        return properties
    }
}

extension KafkaSecurity {
    /// ``validate()`` as the clients' error.
    func check() throws(KafkaError) {
        do { try validate() } catch { throw .configuration("security: \(error.message)") }
    }
}

/// Builds an `rd_kafka_conf_t` from properties. The caller owns the result until `rd_kafka_new`
/// takes it.
func makeKafkaConf(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else { throw .configuration("rd_kafka_conf_new failed") }
    var errorText = [CChar](repeating: 0, count: 512)
    for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
        let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
        guard result == RD_KAFKA_CONF_OK else {
            rd_kafka_conf_destroy(conf)
            throw .configuration("\(name): \(String(cBuffer: errorText))")
        }
    }
    return conf
}

/// Creates a client handle from a conf (which it consumes, also on failure).
func makeKafkaHandle(_ type: rd_kafka_type_t, _ conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var errorText = [CChar](repeating: 0, count: 512)
    guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        throw .configuration(String(cBuffer: errorText))
    }
    return handle
}

extension String {
    /// Text from a NUL-terminated C buffer filled by librdkafka.
    init(cBuffer buffer: [CChar]) {
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        self = String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
