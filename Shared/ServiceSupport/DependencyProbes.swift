import Kafka
import Logging
import Postgres
import Redis

/// One-shot reachability checks of a service's dependencies, used at start-up (and by readiness
/// endpoints later). Each returns a short human-readable description of what it found.
public enum DependencyProbes {
    public static func redis(_ client: RedisClient) async throws -> String {
        let reply = try await client.send("PING")
        return "redis \(client.configuration.host):\(client.configuration.port) answered \(reply.string ?? "\(reply)")"
    }

    public static func postgres(_ client: PostgresClient) async throws -> String {
        let version = try await client.query("SHOW server_version")[0].decode(0, as: String.self)
        return "postgres \(client.configuration.host):\(client.configuration.port) version \(version)"
    }

    public static func kafka(_ admin: KafkaAdmin) async throws -> String {
        let topics = try await admin.listTopics()
        return "kafka \(admin.configuration.bootstrapServers.joined(separator: ",")) reachable, \(topics.count) topics (librdkafka \(KafkaLibrary.version))"
    }
}

/// The shape every service's `main` has at this stage: load configuration, connect to each
/// dependency, report, and exit (status 0 if all were reachable, 69 EX_UNAVAILABLE otherwise).
public struct ServiceCheck {
    public let service: String
    public let summary: String
    public let keys: [ConfigKey]

    public init(service: String, summary: String, keys: [ConfigKey]) {
        self.service = service
        self.summary = summary
        self.keys = [ServiceBootstrap.logLevel] + keys
    }

    public func run(arguments: [String] = CommandLine.arguments, checks: (ConfigReader, Logger) async throws -> [String]) async -> Int32 {
        ServiceBootstrap.answerInformationalArguments(service: service, summary: summary, keys: keys, arguments: arguments)
        let reader: ConfigReader
        do {
            reader = try ConfigReader.load(service: service, keys: keys)
            ServiceBootstrap.bootstrapLogging(level: try ServiceBootstrap.parseLevel(reader))
        } catch {
            ServiceBootstrap.exit(dueTo: error)
        }
        let logger = Logger(label: "streamrec.\(service)")
        logger.info("starting", metadata: ["config": "\(reader.source)"])
        do {
            for line in try await checks(reader, logger) { logger.info("\(line)") }
            logger.info("all dependencies reachable; exiting")
            return 0
        } catch let error as ConfigurationError {
            ServiceBootstrap.exit(dueTo: error)
        } catch {
            logger.error("dependency check failed", metadata: ["error": "\(error)"])
            return 69
        }
    }
}

/// Runs `body`, then `cleanup` whether or not `body` threw (async `defer`, which Swift lacks).
public func withCleanup<Result>(
    isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Result, cleanup: () async -> Void
) async throws -> Result {
    do {
        let result = try await body()
        await cleanup()
        return result
    } catch {
        await cleanup()
        throw error
    }
}
