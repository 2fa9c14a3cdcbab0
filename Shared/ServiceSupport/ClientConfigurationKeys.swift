import Events
import ClientRuntime
import Kafka
import Postgres
import Redis

/// Configuration keys of the shared clients, declared once for every service that uses them.
public enum ClientConfigKeys {
    public static let redisHost = ConfigKey("redis.host", default: "127.0.0.1", "Redis server host")
    public static let redisPort = ConfigKey("redis.port", default: "6379", "Redis server port")
    public static let redisUsername = ConfigKey("redis.username", default: nil, "Redis ACL user (AUTH username password); unset: the default user")
    public static let redisPassword = ConfigKey("redis.password", default: nil, "Redis AUTH password (or redis.password_file)", secret: true)
    public static let redisDatabase = ConfigKey("redis.database", default: "0", "Redis logical database")
    public static let redisConnections = ConfigKey("redis.connections", default: "4", "Redis connections, each with its own I/O thread")
    public static let redisLaneFill = ConfigKey(
        "redis.lane_fill", default: "0",
        "Requests one Redis connection takes (queued or in flight) before the next is used; 0: round-robin over all"
    )
    public static let redisIO = ConfigKey(
        "redis.io", default: "threads",
        "Who does Redis I/O: threads (redis.connections hiredis connections, each with its own thread) or event_loops (one connection per NIO event loop; no thread hand-off for callers on those loops)"
    )
    public static let redisConnectTimeout = ConfigKey("redis.connect_timeout", default: "2s", "Bound on connecting to Redis")
    public static let redisCommandTimeout = ConfigKey("redis.command_timeout", default: "5s", "Bound on each Redis command")

    public static let postgresHost = ConfigKey("postgres.host", default: "127.0.0.1", "PostgreSQL host")
    public static let postgresPort = ConfigKey("postgres.port", default: "5432", "PostgreSQL port")
    public static let postgresDatabase = ConfigKey("postgres.database", default: "streamrec", "PostgreSQL database")
    public static let postgresUser = ConfigKey("postgres.user", default: "streamrec", "PostgreSQL user")
    public static let postgresPassword = ConfigKey("postgres.password", default: nil, "PostgreSQL password (or postgres.password_file)", secret: true)
    public static let postgresPoolSize = ConfigKey("postgres.pool_size", default: "8", "Most PostgreSQL connections open at once")
    public static let postgresStatementTimeout = ConfigKey("postgres.statement_timeout", default: "30s", "Server-side bound on each statement")
    public static let postgresSchema = ConfigKey("postgres.schema", default: "", "Schema for the service's tables (search_path); empty: the server's default (public). Must exist")
    public static let postgresMigrationsDirectory = ConfigKey("postgres.migrations_dir", default: "configs/migrations", "Schema migration SQL files, applied at start")

    public static let kafkaBrokers = ConfigKey("kafka.brokers", default: "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
    public static let kafkaCompression = ConfigKey("kafka.compression", default: "lz4", "Producer compression: none, gzip, snappy, lz4, zstd")
    public static let kafkaLinger = ConfigKey("kafka.linger", default: "5ms", "Producer batching delay (linger.ms)")
    public static let kafkaDeliveryTimeout = ConfigKey("kafka.delivery_timeout", default: "30s", "A record not acknowledged within this fails (message.timeout.ms)")
    public static let kafkaQueueMaxMessages = ConfigKey("kafka.queue_max_messages", default: "100000", "Producer local queue bound; beyond it sends fail fast (backpressure)")
    public static let kafkaDebug = ConfigKey("kafka.debug", default: "", "librdkafka debug contexts, e.g. broker,topic,eos (empty: off)")
    public static let kafkaGroupID = ConfigKey("kafka.group_id", default: "streamrec", "Consumer group id")
    public static let kafkaSessionTimeout = ConfigKey("kafka.session_timeout", default: "10s", "Consumer group session timeout")
    public static let kafkaHeartbeatInterval = ConfigKey("kafka.heartbeat_interval", default: "3s", "Consumer group heartbeat interval")
    public static let kafkaGroupInstanceID = ConfigKey(
        "kafka.group_instance_id", default: "",
        "Static group membership (group.instance.id): a stable id per instance, e.g. the pod name, so that a restarted instance takes its partitions back without waiting out its old session; empty: dynamic membership")

    public static let movieTopic = ConfigKey("topics.movie", default: "streamrec.movie-events", "Topic of movie events")
    public static let pollTopic = ConfigKey("topics.poll", default: "streamrec.poll-events", "Topic of poll events")
    public static let topicPartitions = ConfigKey("topics.partitions", default: "6", "Partitions of each event topic when a service creates it")
    public static let topicReplication = ConfigKey("topics.replication_factor", default: "1", "Replication factor of each topic a service creates")
    public static let eventTopics: [ConfigKey] = [movieTopic, pollTopic, topicPartitions, topicReplication]

    public static let redis: [ConfigKey] = [redisHost, redisPort, redisUsername, redisPassword, redisDatabase, redisConnections, redisLaneFill, redisIO, redisConnectTimeout, redisCommandTimeout]
    public static let postgres: [ConfigKey] = [
        postgresHost, postgresPort, postgresDatabase, postgresUser, postgresPassword, postgresPoolSize,
        postgresStatementTimeout, postgresSchema, postgresMigrationsDirectory,
    ]
    public static let kafkaProducer: [ConfigKey] = [kafkaBrokers, kafkaCompression, kafkaLinger, kafkaDeliveryTimeout, kafkaQueueMaxMessages, kafkaDebug]
    public static let kafkaConsumer: [ConfigKey] = [kafkaBrokers, kafkaGroupID, kafkaGroupInstanceID, kafkaSessionTimeout, kafkaHeartbeatInterval, kafkaDebug]
}

extension EventTopics {
    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        self.init(movie: try reader.string(ClientConfigKeys.movieTopic), poll: try reader.string(ClientConfigKeys.pollTopic))
    }
}

extension RedisConfiguration {
    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        self.init(
            host: try reader.string(K.redisHost),
            port: try reader.int(K.redisPort, range: 1...65535),
            username: try reader.optionalString(K.redisUsername),
            password: try reader.optionalString(K.redisPassword),
            database: try reader.int(K.redisDatabase, range: 0...1023),
            connectTimeout: try reader.duration(K.redisConnectTimeout),
            commandTimeout: try reader.duration(K.redisCommandTimeout),
            connections: try reader.int(K.redisConnections, range: 1...256),
            laneFill: try reader.int(K.redisLaneFill, range: 0...100_000),
            io: try Self.ioModel(reader.string(K.redisIO))
        )
    }

    private static func ioModel(_ text: String) throws(ConfigurationError) -> IOModel {
        guard let model = IOModel(rawValue: text) else {
            throw ConfigurationError(key: ClientConfigKeys.redisIO.name, message: "expected threads or event_loops, got \"\(text)\"")
        }
        return model
    }
}

extension PostgresConfiguration {
    public init(reading reader: ConfigReader, applicationName: String) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        let poolSize = try reader.int(K.postgresPoolSize, range: 1...1024)
        self.init(
            host: try reader.string(K.postgresHost),
            port: try reader.int(K.postgresPort, range: 1...65535),
            database: try reader.string(K.postgresDatabase),
            user: try reader.string(K.postgresUser),
            password: try reader.optionalString(K.postgresPassword),
            applicationName: applicationName,
            statementTimeout: try reader.duration(K.postgresStatementTimeout),
            searchPath: try reader.string(K.postgresSchema).isEmpty ? nil : try reader.string(K.postgresSchema),
            pool: ConnectionPoolConfiguration(maximumConnections: poolSize)
        )
    }
}

extension KafkaProducerConfiguration {
    public init(reading reader: ConfigReader, clientID: String) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        let compressionName = try reader.string(K.kafkaCompression)
        guard let compression = KafkaCompression(rawValue: compressionName) else {
            throw ConfigurationError(key: K.kafkaCompression.name, message: "expected one of \(KafkaCompression.allCases.map(\.rawValue)), got \"\(compressionName)\"")
        }
        self.init(
            bootstrapServers: try reader.list(K.kafkaBrokers),
            clientID: clientID,
            compression: compression,
            linger: try reader.duration(K.kafkaLinger),
            queueMaxMessages: try reader.int(K.kafkaQueueMaxMessages, range: 1...10_000_000),
            deliveryTimeout: try reader.duration(K.kafkaDeliveryTimeout),
            additionalProperties: try Self.debugProperties(reader)
        )
    }
}

extension KafkaProducerConfiguration {
    static func debugProperties(_ reader: ConfigReader) throws(ConfigurationError) -> [String: String] {
        let contexts = try reader.string(ClientConfigKeys.kafkaDebug)
        return contexts.isEmpty ? [:] : ["debug": contexts]
    }
}

extension KafkaConsumerConfiguration {
    public init(reading reader: ConfigReader, clientID: String) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        self.init(
            bootstrapServers: try reader.list(K.kafkaBrokers),
            groupID: try reader.string(K.kafkaGroupID),
            clientID: clientID,
            sessionTimeout: try reader.duration(K.kafkaSessionTimeout),
            groupInstanceID: try reader.optionalString(K.kafkaGroupInstanceID).flatMap { $0.isEmpty ? nil : $0 },
            heartbeatInterval: try reader.duration(K.kafkaHeartbeatInterval),
            additionalProperties: try KafkaProducerConfiguration.debugProperties(reader)
        )
    }
}
