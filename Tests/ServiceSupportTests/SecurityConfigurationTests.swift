import ClientConfiguration
import Foundation
import Kafka
import Postgres
import Redis
import ServiceConfiguration
import Testing

/// The security settings of the three clients as typed configuration: defaults, what reaches librdkafka and
/// libpq, and combinations refused with the key to change.
@Suite("Security configuration (Kafka SASL/TLS, Redis TLS/ACL, PostgreSQL sslmode)")
struct SecurityConfigurationTests {
    let keys = ClientConfigKeys.redis + ClientConfigKeys.postgres + ClientConfigKeys.kafkaProducer + [ClientConfigKeys.kafkaGroupID, ClientConfigKeys.kafkaGroupInstanceID, ClientConfigKeys.kafkaSessionTimeout, ClientConfigKeys.kafkaHeartbeatInterval]

    func reader(_ environment: [String: String]) throws -> ConfigReader {
        try ConfigReader(keys: keys, fileValues: [:], environment: environment, source: "test")
    }

    /// A readable file standing in for a certificate (the reader checks files exist; librdkafka parses them):
    /// this source file, which is certainly not a certificate, and nothing to clean up.
    static let someFile = #filePath

    func kafkaError(_ environment: [String: String]) throws -> ConfigurationError? {
        let reader = try reader(environment)
        return #expect(throws: ConfigurationError.self) { try KafkaProducerConfiguration(reading: reader, clientID: "t") }
    }

    @Test("defaults: Kafka plaintext, PostgreSQL sslmode=prefer, Redis without TLS")
    func defaults() throws {
        let reader = try reader([:])
        let kafka = try KafkaProducerConfiguration(reading: reader, clientID: "t")
        #expect(kafka.security == .plaintext)
        #expect(kafka.properties["security.protocol"] == "plaintext")
        #expect(kafka.properties.keys.filter { $0.hasPrefix("sasl.") || $0.hasPrefix("ssl.") }.isEmpty)
        let consumer = try KafkaConsumerConfiguration(reading: reader, clientID: "t")
        #expect(consumer.security == .plaintext)
        let postgres = try PostgresConfiguration(reading: reader, applicationName: "t")
        #expect(postgres.sslMode == .prefer && postgres.sslRootCertificate == nil)
        let redis = try RedisConfiguration(reading: reader)
        #expect(redis.tls == nil)
    }

    @Test("Kafka SASL over TLS reaches producer, consumer and admin alike; the password comes from a secret and is never in descriptions")
    func kafkaSASLOverTLS() throws {
        let secret = NSTemporaryDirectory() + "streamrec-sasl-\(UUID().uuidString.prefix(8))"
        try "sup3r-s3cret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: secret) }
        let reader = try reader([
            "STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "STREAMREC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "STREAMREC_KAFKA_SASL_USERNAME": "gateway", "STREAMREC_KAFKA_SASL_PASSWORD_FILE": secret, "STREAMREC_KAFKA_SSL_CA_FILE": Self.someFile,
            "STREAMREC_KAFKA_SSL_CERTIFICATE_FILE": Self.someFile, "STREAMREC_KAFKA_SSL_KEY_FILE": Self.someFile,
        ])
        let producer = try KafkaProducerConfiguration(reading: reader, clientID: "t")
        let consumer = try KafkaConsumerConfiguration(reading: reader, clientID: "t")
        let admin = KafkaAdminConfiguration(for: producer)
        for properties in [producer.properties, consumer.properties, admin.properties, KafkaAdminConfiguration(for: consumer).properties] {
            #expect(properties["security.protocol"] == "sasl_ssl")
            #expect(properties["sasl.mechanisms"] == "SCRAM-SHA-512")
            #expect(properties["sasl.username"] == "gateway")
            #expect(properties["sasl.password"] == "sup3r-s3cret")
            #expect(properties["ssl.ca.location"] == Self.someFile)
            #expect(properties["ssl.certificate.location"] == Self.someFile)
            #expect(properties["ssl.key.location"] == Self.someFile)
            #expect(properties["ssl.endpoint.identification.algorithm"] == "https")
        }
        for text in ["\(producer)", "\(consumer)", "\(admin)", String(reflecting: producer.security), "\(producer.security)"] {
            #expect(!text.contains("sup3r-s3cret"), "\(text)")
        }
        // TLS alone, hostname check off.
        let tls = try KafkaProducerConfiguration(reading: try self.reader([
            "STREAMREC_KAFKA_SECURITY_PROTOCOL": "ssl", "STREAMREC_KAFKA_SSL_VERIFY_HOSTNAME": "false",
        ]), clientID: "t")
        #expect(tls.properties["security.protocol"] == "ssl")
        #expect(tls.properties["ssl.endpoint.identification.algorithm"] == "none")
        #expect(tls.properties["sasl.mechanisms"] == nil)
    }

    @Test("Kafka combinations that cannot mean what they say are refused, naming the key")
    func kafkaRefusedCombinations() throws {
        let cases: [([String: String], String, String)] = [
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "tls"], "kafka.security_protocol", "expected one of"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "STREAMREC_KAFKA_SASL_USERNAME": "u", "STREAMREC_KAFKA_SASL_PASSWORD": "p"], "kafka.sasl_mechanism", "required"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "STREAMREC_KAFKA_SASL_MECHANISM": "GSSAPI"], "kafka.sasl_mechanism", "expected one of"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "STREAMREC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"], "kafka.sasl_username", "required"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "STREAMREC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "STREAMREC_KAFKA_SASL_USERNAME": "u"], "kafka.sasl_password", "required"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "STREAMREC_KAFKA_SASL_MECHANISM": "PLAIN", "STREAMREC_KAFKA_SASL_USERNAME": "u", "STREAMREC_KAFKA_SASL_PASSWORD": "p"], "kafka.sasl_mechanism", "clear text"),
            (["STREAMREC_KAFKA_SASL_MECHANISM": "PLAIN"], "kafka.sasl_mechanism", "does not use SASL"),
            (["STREAMREC_KAFKA_SASL_USERNAME": "u", "STREAMREC_KAFKA_SASL_PASSWORD": "p"], "kafka.sasl_username", "does not use SASL"),
            (["STREAMREC_KAFKA_SSL_CA_FILE": Self.someFile], "kafka.ssl_ca_file", "does not use TLS"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "STREAMREC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "STREAMREC_KAFKA_SASL_USERNAME": "u",
              "STREAMREC_KAFKA_SASL_PASSWORD": "p", "STREAMREC_KAFKA_SSL_CA_FILE": Self.someFile], "kafka.ssl_ca_file", "does not use TLS"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "ssl", "STREAMREC_KAFKA_SSL_CERTIFICATE_FILE": Self.someFile], "kafka.ssl_key_file", "required"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "ssl", "STREAMREC_KAFKA_SSL_KEY_FILE": Self.someFile], "kafka.ssl_certificate_file", "required"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "ssl", "STREAMREC_KAFKA_SSL_KEY_PASSWORD": "k"], "kafka.ssl_key_password", "no client key"),
            (["STREAMREC_KAFKA_SECURITY_PROTOCOL": "ssl", "STREAMREC_KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"], "kafka.ssl_ca_file", "cannot read"),
        ]
        for (environment, key, message) in cases {
            let error = try kafkaError(environment)
            #expect(error?.key == key, "\(environment)")
            #expect(error?.message.contains(message) == true, "\(environment): \(String(describing: error))")
            #expect(error.map { "\($0)" }?.contains("\"p\"") != true, "no password echoed")
        }
        // The clients check too, when built without the configuration reader.
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
        configuration.security = KafkaSecurity(securityProtocol: .saslSSL, saslMechanism: .scramSHA256)
        #expect(throws: KafkaError.self) { try KafkaProducer(configuration: configuration) }
        #expect(throws: KafkaError.self) { try KafkaAdmin(configuration: KafkaAdminConfiguration(for: configuration)) }
    }

    @Test("librdkafka accepts the security properties (this run-time library has ssl, sasl_plain and sasl_scram)")
    func librdkafkaAcceptsTheProperties() async throws {
        // SCRAM over plaintext: the handle is made (librdkafka checks the mechanism is built in).
        var scram = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"], deliveryTimeout: .milliseconds(100))
        scram.security = KafkaSecurity(
            securityProtocol: .saslPlaintext, saslMechanism: .scramSHA512, saslCredentials: .init(username: "u", password: "p"))
        let producer = try KafkaProducer(configuration: scram)
        await producer.shutdown(flushTimeout: .milliseconds(100))
        // TLS with a CA file that is not a certificate: librdkafka reads it when the handle is made and
        // refuses it there, at start, not at the first connection.
        var tls = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"], deliveryTimeout: .milliseconds(100))
        tls.security = KafkaSecurity(securityProtocol: .ssl, caFile: Self.someFile)
        let error = #expect(throws: KafkaError.self) { try KafkaProducer(configuration: tls) }
        #expect("\(String(describing: error))".lowercased().contains("ssl"), "\(String(describing: error))")
    }

    @Test("PostgreSQL: sslmode and certificates become libpq parameters; contradictions are refused")
    func postgres() throws {
        let configuration = try PostgresConfiguration(reading: try reader([
            "STREAMREC_POSTGRES_SSLMODE": "verify-full", "STREAMREC_POSTGRES_SSL_ROOT_CERT": "/etc/ssl/ca with spaces 'quoted'.pem",
        ]), applicationName: "t")
        #expect(configuration.sslMode == .verifyFull)
        #expect(configuration.sslRootCertificate == "/etc/ssl/ca with spaces 'quoted'.pem")
        let cases: [([String: String], String)] = [
            (["STREAMREC_POSTGRES_SSLMODE": "verify"], "postgres.sslmode"),
            (["STREAMREC_POSTGRES_SSLMODE": "require", "STREAMREC_POSTGRES_SSL_ROOT_CERT": "/ca.pem"], "postgres.ssl_root_cert"),
            (["STREAMREC_POSTGRES_SSLMODE": "disable", "STREAMREC_POSTGRES_SSL_CERT": "/c.pem", "STREAMREC_POSTGRES_SSL_KEY": "/k.pem"], "postgres.ssl_cert"),
            (["STREAMREC_POSTGRES_SSLMODE": "verify-full", "STREAMREC_POSTGRES_SSL_CERT": "/c.pem"], "postgres.ssl_key"),
            (["STREAMREC_POSTGRES_SSLMODE": "verify-full", "STREAMREC_POSTGRES_SSL_KEY": "/k.pem"], "postgres.ssl_cert"),
        ]
        for (environment, key) in cases {
            let reader = try reader(environment)
            let error = #expect(throws: ConfigurationError.self) { try PostgresConfiguration(reading: reader, applicationName: "t") }
            #expect(error?.key == key, "\(environment): \(String(describing: error))")
        }
    }

    @Test("Redis: TLS needs the event-loop I/O model; TLS files need TLS on; a user needs a password")
    func redis() throws {
        let tls = try RedisConfiguration(reading: try reader([
            "STREAMREC_REDIS_TLS": "true", "STREAMREC_REDIS_IO": "event_loops", "STREAMREC_REDIS_TLS_CA_FILE": Self.someFile,
            "STREAMREC_REDIS_TLS_SERVER_NAME": "redis.internal",
        ]))
        #expect(tls.tls == RedisTLS(caFile: Self.someFile, serverName: "redis.internal"))
        let cases: [([String: String], String, String)] = [
            (["STREAMREC_REDIS_TLS": "true"], "redis.tls", "event_loops"),
            (["STREAMREC_REDIS_TLS_CA_FILE": Self.someFile], "redis.tls_ca_file", "redis.tls is false"),
            (["STREAMREC_REDIS_TLS": "true", "STREAMREC_REDIS_IO": "event_loops", "STREAMREC_REDIS_TLS_CERT_FILE": Self.someFile], "redis.tls_key_file", "required"),
            (["STREAMREC_REDIS_TLS": "true", "STREAMREC_REDIS_IO": "event_loops", "STREAMREC_REDIS_TLS_CA_FILE": "/nonexistent.pem"], "redis.tls_ca_file", "cannot read"),
            (["STREAMREC_REDIS_USERNAME": "streamrec_api"], "redis.password", "required"),
        ]
        for (environment, key, message) in cases {
            let reader = try reader(environment)
            let error = #expect(throws: ConfigurationError.self) { try RedisConfiguration(reading: reader) }
            #expect(error?.key == key, "\(environment): \(String(describing: error))")
            #expect(error?.message.contains(message) == true, "\(environment): \(String(describing: error))")
        }
    }
}
