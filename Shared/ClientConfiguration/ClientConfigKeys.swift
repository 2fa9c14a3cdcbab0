import ServiceConfiguration

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
    public static let redisTLS = ConfigKey(
        "redis.tls", default: "false",
        "Connect to Redis over TLS (the server's tls-port); needs redis.io = event_loops (hiredis 0.14, the threads model, has no TLS here)")
    public static let redisTLSCAFile = ConfigKey(
        "redis.tls_ca_file", default: "", "PEM file of the CAs that signed the Redis server's certificate; empty: the system's trust store")
    public static let redisTLSCertificateFile = ConfigKey(
        "redis.tls_cert_file", default: "", "Client certificate (PEM) for servers with tls-auth-clients yes (Redis's default); needs redis.tls_key_file")
    public static let redisTLSKeyFile = ConfigKey("redis.tls_key_file", default: "", "The client certificate's private key (PEM)")
    public static let redisTLSServerName = ConfigKey(
        "redis.tls_server_name", default: "",
        "Name the server's certificate must carry (and SNI); empty: redis.host (an IP address is then checked against the certificate's IP entries)")
    public static let redisCluster = ConfigKey(
        "redis.cluster", default: "false",
        "Redis Cluster mode: redis.host/redis.port are a seed node; commands go to their hash slot's master (MOVED/ASK followed); false: one server"
    )
    public static let redisConnectTimeout = ConfigKey("redis.connect_timeout", default: "2s", "Bound on connecting to Redis")
    public static let redisCommandTimeout = ConfigKey("redis.command_timeout", default: "5s", "Bound on each Redis command")

    public static let postgresHost = ConfigKey("postgres.host", default: "127.0.0.1", "PostgreSQL host")
    public static let postgresPort = ConfigKey("postgres.port", default: "5432", "PostgreSQL port")
    public static let postgresDatabase = ConfigKey("postgres.database", default: "streamrec", "PostgreSQL database")
    public static let postgresUser = ConfigKey("postgres.user", default: "streamrec", "PostgreSQL user")
    public static let postgresPassword = ConfigKey("postgres.password", default: nil, "PostgreSQL password (or postgres.password_file)", secret: true)
    public static let postgresSSLMode = ConfigKey(
        "postgres.sslmode", default: "prefer",
        "libpq sslmode: disable, allow, prefer (TLS if offered: no protection), require (TLS, certificate unchecked), verify-ca, verify-full (TLS, CA and host name checked)")
    public static let postgresSSLRootCertificate = ConfigKey(
        "postgres.ssl_root_cert", default: "", "PEM file of the CAs that signed the server's certificate (sslrootcert), for verify-ca and verify-full; empty: ~/.postgresql/root.crt")
    public static let postgresSSLCertificate = ConfigKey(
        "postgres.ssl_cert", default: "", "Client certificate (sslcert, PEM) for certificate authentication; needs postgres.ssl_key")
    public static let postgresSSLKey = ConfigKey("postgres.ssl_key", default: "", "The client certificate's private key (sslkey, PEM, readable by its owner only)")
    public static let postgresPoolSize = ConfigKey("postgres.pool_size", default: "8", "Most PostgreSQL connections open at once")
    public static let postgresStatementTimeout = ConfigKey("postgres.statement_timeout", default: "30s", "Server-side bound on each statement")
    public static let postgresSchema = ConfigKey("postgres.schema", default: "", "Schema for the service's tables (search_path); empty: the server's default (public). Must exist")
    public static let postgresMigrationsDirectory = ConfigKey("postgres.migrations_dir", default: "configs/migrations", "Schema migration SQL files, applied at start")
    /// The processor's and the API's only (the trainer always applies): see `SchemaMigrations`.
    public static let postgresApplyMigrations = ConfigKey(
        "postgres.apply_migrations", default: "true",
        "Apply missing schema migrations at start (true), or only check that none is missing and refuse to go on (false: the trainer applies them)"
    )

    public static let kafkaBrokers = ConfigKey("kafka.brokers", default: "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
    public static let kafkaCompression = ConfigKey("kafka.compression", default: "lz4", "Producer compression: none, gzip, snappy, lz4, zstd")
    public static let kafkaLinger = ConfigKey("kafka.linger", default: "5ms", "Producer batching delay (linger.ms)")
    public static let kafkaDeliveryTimeout = ConfigKey("kafka.delivery_timeout", default: "30s", "A record not acknowledged within this fails (message.timeout.ms)")
    public static let kafkaQueueMaxMessages = ConfigKey("kafka.queue_max_messages", default: "100000", "Producer local queue bound; beyond it sends fail fast (backpressure)")
    public static let kafkaStatisticsInterval = ConfigKey(
        "kafka.statistics_interval", default: "0s", "librdkafka statistics every this long (statistics.interval.ms) as streamrec_kafka_* gauges; 0s: off"
    )
    public static let kafkaDebug = ConfigKey("kafka.debug", default: "", "librdkafka debug contexts, e.g. broker,topic,eos (empty: off)")
    public static let kafkaGroupID = ConfigKey("kafka.group_id", default: "streamrec", "Consumer group id")
    public static let kafkaSessionTimeout = ConfigKey("kafka.session_timeout", default: "10s", "Consumer group session timeout")
    public static let kafkaHeartbeatInterval = ConfigKey("kafka.heartbeat_interval", default: "3s", "Consumer group heartbeat interval")
    public static let kafkaGroupInstanceID = ConfigKey(
        "kafka.group_instance_id", default: "",
        "Static group membership (group.instance.id): a stable id per instance, e.g. the pod name, so that a restarted instance takes its partitions back without waiting out its old session; empty: dynamic membership")

    public static let kafkaSecurityProtocol = ConfigKey(
        "kafka.security_protocol", default: "plaintext",
        "How clients reach the brokers: plaintext, ssl (TLS), sasl_plaintext (SASL without TLS) or sasl_ssl (SASL over TLS); producers, consumers and admin clients alike")
    public static let kafkaSASLMechanism = ConfigKey(
        "kafka.sasl_mechanism", default: "",
        "SASL mechanism with sasl_plaintext or sasl_ssl: PLAIN (sasl_ssl only), SCRAM-SHA-256 or SCRAM-SHA-512; empty: none")
    public static let kafkaSASLUsername = ConfigKey("kafka.sasl_username", default: "", "SASL user with sasl_plaintext or sasl_ssl")
    public static let kafkaSASLPassword = ConfigKey(
        "kafka.sasl_password", default: nil, "SASL password with sasl_plaintext or sasl_ssl (or kafka.sasl_password_file); never logged", secret: true)
    public static let kafkaSSLCAFile = ConfigKey(
        "kafka.ssl_ca_file", default: "", "PEM file of the CAs that signed the brokers' certificates, with ssl or sasl_ssl; empty: the system's trust store")
    public static let kafkaSSLCertificateFile = ConfigKey(
        "kafka.ssl_certificate_file", default: "", "Client certificate (PEM) for brokers that require one, with ssl or sasl_ssl; needs kafka.ssl_key_file")
    public static let kafkaSSLKeyFile = ConfigKey("kafka.ssl_key_file", default: "", "The client certificate's private key (PEM)")
    public static let kafkaSSLKeyPassword = ConfigKey(
        "kafka.ssl_key_password", default: nil, "Passphrase of an encrypted kafka.ssl_key_file (or kafka.ssl_key_password_file)", secret: true)
    public static let kafkaSSLVerifyHostname = ConfigKey(
        "kafka.ssl_verify_hostname", default: "true",
        "Check that each broker's certificate names its address (false accepts any certificate of the CA for any broker)")
    public static let kafkaSecurity: [ConfigKey] = [
        kafkaSecurityProtocol, kafkaSASLMechanism, kafkaSASLUsername, kafkaSASLPassword, kafkaSSLCAFile, kafkaSSLCertificateFile, kafkaSSLKeyFile,
        kafkaSSLKeyPassword, kafkaSSLVerifyHostname,
    ]

    public static let movieTopic = ConfigKey("topics.movie", default: "streamrec.movie-events", "Topic of movie events")
    public static let pollTopic = ConfigKey("topics.poll", default: "streamrec.poll-events", "Topic of poll events")
    public static let topicPartitions = ConfigKey("topics.partitions", default: "6", "Partitions of each event topic when a service creates it")
    public static let topicReplication = ConfigKey("topics.replication_factor", default: "1", "Replication factor of each topic a service creates")
    /// Declared once: the trainer announces on it, every inference API instance listens to it.
    public static let modelUpdatedTopic = ConfigKey(
        "topics.model_updated", default: "streamrec.model-updated", "Topic on which the trainer announces promotions (each API instance reloads)"
    )
    /// The inference API's impressions (`RecommendationServed`): written by the API, read by the processor.
    public static let recommendationServedTopic = ConfigKey(
        "topics.recommendation_served", default: "recommendation.served",
        "Topic of the inference API's recommendation.served records (one per answer: docs/events.md, Impressions)"
    )
    public static let eventTopics: [ConfigKey] = [movieTopic, pollTopic, topicPartitions, topicReplication]

    public static let redis: [ConfigKey] = [redisHost, redisPort, redisUsername, redisPassword, redisDatabase, redisConnections, redisLaneFill, redisIO, redisCluster, redisConnectTimeout, redisCommandTimeout,
        redisTLS, redisTLSCAFile, redisTLSCertificateFile, redisTLSKeyFile, redisTLSServerName,
    ]
    public static let postgres: [ConfigKey] = [
        postgresHost, postgresPort, postgresDatabase, postgresUser, postgresPassword, postgresPoolSize,
        postgresStatementTimeout, postgresSchema, postgresMigrationsDirectory, postgresSSLMode, postgresSSLRootCertificate, postgresSSLCertificate,
        postgresSSLKey,
    ]
    public static let kafkaProducer: [ConfigKey] = [kafkaBrokers, kafkaCompression, kafkaLinger, kafkaDeliveryTimeout, kafkaQueueMaxMessages, kafkaDebug, kafkaStatisticsInterval] + kafkaSecurity
    public static let kafkaConsumer: [ConfigKey] = [kafkaBrokers, kafkaGroupID, kafkaGroupInstanceID, kafkaSessionTimeout, kafkaHeartbeatInterval, kafkaDebug, kafkaStatisticsInterval] + kafkaSecurity
}
