import Kafka
import Logging
import Postgres
import Redis

/// One-shot reachability checks of a service's dependencies, used at start-up and by the readiness
/// endpoints. Each returns a short human-readable description of what it found.
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

    /// `/readyz` checks of Redis and PostgreSQL: nil means reachable, otherwise the error.
    public static func readiness(redis: RedisClient, postgres: PostgresClient) async -> [(String, String?)] {
        var checks: [(String, String?)] = []
        do { _ = try await Self.redis(redis); checks.append(("redis", nil)) } catch { checks.append(("redis", "\(error)")) }
        do { _ = try await Self.postgres(postgres); checks.append(("postgres", nil)) } catch { checks.append(("postgres", "\(error)")) }
        return checks
    }
}
