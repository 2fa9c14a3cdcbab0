import ClientConfiguration
import Foundation
import Kafka
import Postgres
import Redis
import ServiceConfiguration
import ServiceSupport
import StackTestSupport
import Testing

@Suite("Configuration loading")
struct ConfigurationTests {
    let keys = ClientConfigKeys.redis + ClientConfigKeys.postgres + ClientConfigKeys.kafkaProducer + [ServiceBootstrap.logLevel]

    @Test("defaults apply when nothing is set")
    func defaults() throws {
        let reader = try ConfigReader(keys: keys, fileValues: [:], environment: [:], source: "test")
        let redis = try RedisConfiguration(reading: reader)
        #expect(redis.host == "127.0.0.1")
        #expect(redis.port == 6379)
        #expect(redis.commandTimeout == .seconds(5))
        #expect(redis.password == nil)
        let kafka = try KafkaProducerConfiguration(reading: reader, clientID: "t")
        #expect(kafka.bootstrapServers == ["127.0.0.1:9092"])
        #expect(kafka.compression == .lz4)
        #expect(kafka.enableIdempotence)
        #expect(kafka.properties["acks"] == "all")
    }

    @Test("the file overrides defaults and the environment overrides the file")
    func precedence() throws {
        let file = try ConfigReader.parse("""
            # comment
            redis.host = redis.internal   # trailing comment
            redis.port = 7000
            kafka.brokers = a:9092, b:9092
            postgres.user = "  spaced  "
            """, source: "test.conf")
        let reader = try ConfigReader(keys: keys, fileValues: file, environment: ["STREAMREC_REDIS_PORT": "7001"], source: "test.conf")
        let redis = try RedisConfiguration(reading: reader)
        #expect(redis.host == "redis.internal")
        #expect(redis.port == 7001)
        #expect(try reader.list(ClientConfigKeys.kafkaBrokers) == ["a:9092", "b:9092"])
        #expect(try reader.string(ClientConfigKeys.postgresUser) == "  spaced  ")
    }

    @Test("a secret can come from a file, as Docker and Kubernetes mount them")
    func secretFromFile() throws {
        let path = NSTemporaryDirectory() + "streamrec-secret-\(UUID().uuidString)"
        try "s3cr3t\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let viaEnvironment = try ConfigReader(keys: keys, fileValues: [:], environment: ["STREAMREC_POSTGRES_PASSWORD_FILE": path], source: "t")
        #expect(try PostgresConfiguration(reading: viaEnvironment, applicationName: "t").password == "s3cr3t")
        let viaFile = try ConfigReader(keys: keys, fileValues: ["postgres.password_file": path], environment: [:], source: "t")
        #expect(try viaFile.optionalString(ClientConfigKeys.postgresPassword) == "s3cr3t")
        // A mounted secret (environment) wins over a value left in the file.
        let both = try ConfigReader(keys: keys, fileValues: ["postgres.password": "dev"], environment: ["STREAMREC_POSTGRES_PASSWORD_FILE": path], source: "t")
        #expect(try both.optionalString(ClientConfigKeys.postgresPassword) == "s3cr3t")
    }

    @Test("the placeholders that deploy/secrets/*.example ship are refused as secrets, from a file or the environment")
    func placeholderSecretsAreRefused() throws {
        for example in ["admin_token", "gateway_api_keys", "postgres_password"] {
            let path = TestStack.repositoryRoot + "/deploy/secrets/\(example).example"
            let reader = try ConfigReader(keys: keys, fileValues: [:], environment: ["STREAMREC_POSTGRES_PASSWORD_FILE": path], source: "t")
            let error = #expect(throws: ConfigurationError.self, "\(example)") { try reader.optionalString(ClientConfigKeys.postgresPassword) }
            #expect(error?.key == "postgres.password" && error?.message.contains("placeholder") == true)
            #expect(error?.message.contains("change-me-to") == false, "the secret itself is not echoed")
        }
        let direct = try ConfigReader(keys: keys, fileValues: [:], environment: ["STREAMREC_POSTGRES_PASSWORD": "Change-Me-Please-1234"], source: "t")
        #expect(throws: ConfigurationError.self) { try direct.optionalString(ClientConfigKeys.postgresPassword) }
        // Not a secret: the same text is a value like any other.
        let plain = try ConfigReader(keys: keys, fileValues: [:], environment: ["STREAMREC_REDIS_HOST": "change-me.internal"], source: "t")
        #expect(try plain.string(ClientConfigKeys.redisHost) == "change-me.internal")
    }

    @Test("bad values and unknown keys fail with the key named; secrets are not echoed")
    func errors() throws {
        #expect(throws: ConfigurationError(key: "redis.hots", message: "unknown key in t.conf")) {
            try ConfigReader(keys: keys, fileValues: ["redis.hots": "x"], environment: [:], source: "t.conf")
        }
        let reader = try ConfigReader(keys: keys, fileValues: [:], environment: [
            "STREAMREC_REDIS_PORT": "70000", "STREAMREC_KAFKA_COMPRESSION": "brotli", "STREAMREC_REDIS_COMMAND_TIMEOUT": "soon",
        ], source: "t")
        let port = #expect(throws: ConfigurationError.self) { try RedisConfiguration(reading: reader) }
        #expect(port?.key == "redis.port")
        let compression = #expect(throws: ConfigurationError.self) { try KafkaProducerConfiguration(reading: reader, clientID: "t") }
        #expect(compression?.key == "kafka.compression")
        let duration = #expect(throws: ConfigurationError.self) { try reader.duration(ClientConfigKeys.redisCommandTimeout) }
        #expect(duration?.key == "redis.command_timeout")
        #expect(throws: ConfigurationError.self) { try ConfigReader.parse("no equals sign here", source: "x") }
    }

    @Test("durations parse in every unit")
    func durations() {
        #expect(ConfigReader.parseDuration("250ms") == .milliseconds(250))
        #expect(ConfigReader.parseDuration("5s") == .seconds(5))
        #expect(ConfigReader.parseDuration("1.5s") == .milliseconds(1500))
        #expect(ConfigReader.parseDuration("2m") == .seconds(120))
        #expect(ConfigReader.parseDuration("1h") == .seconds(3600))
        #expect(ConfigReader.parseDuration("7d") == .seconds(604_800))
        #expect(ConfigReader.parseDuration("-1s") == nil)
        #expect(ConfigReader.parseDuration("5") == nil)
        #expect(ConfigReader.parseDuration("abc") == nil)
    }

    @Test("every file in configs/ uses only keys its service declares")
    func shippedConfigFilesAreValid() throws {
        let directory = TestStack.repositoryRoot + "/configs"
        let services = ["ingest-gateway", "stream-processor", "trainer", "inference-api"]
        for service in services {
            let path = "\(directory)/\(service).conf"
            #expect(FileManager.default.fileExists(atPath: path), "\(path) is missing")
            let (status, output) = try TestStack.spawnAndWait([TestStack.executable(service), "--help-config"], environment: [:])
            #expect(status == 0)
            let declared = Set(output.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("| `") else { return nil }
                return line.split(separator: "`")[1].description
            })
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let values = try ConfigReader.parse(text, source: path)
            #expect(!declared.isEmpty)
            // The file documents every key the service reads (set or commented out), and nothing else.
            let documented = Set(text.split(separator: "\n").compactMap { line -> String? in
                let body = line.hasPrefix("# ") ? line.dropFirst(2) : line[...]
                guard let equals = body.firstIndex(of: "="), !body.contains(" ") || body[..<equals].hasSuffix(" ") else { return nil }
                let key = body[..<equals].trimmingCharacters(in: .whitespaces)
                return key.allSatisfy { $0.isLowercase || $0 == "." || $0 == "_" } && key.contains(".") ? key : nil
            })
            #expect(documented == declared, "\(path) documents \(documented.symmetricDifference(declared).sorted()) wrongly")
            for key in values.keys {
                let base = key.hasSuffix("_file") ? String(key.dropLast(5)) : key
                #expect(declared.contains(base), "\(path) sets \(key), which \(service) does not read")
            }
        }
    }
}
