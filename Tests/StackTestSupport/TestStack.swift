import ClientRuntime
import Foundation
import Kafka
import Postgres
import Redis

#if canImport(Glibc)
import Glibc
#endif

/// Connection settings of the real servers the integration tests talk to.
///
/// `make test` starts Redis, PostgreSQL and the Kafka-protocol broker with `scripts/stack.sh` and
/// exports their addresses (`STREAMREC_*`). Running `swift test` by hand after `make stack-up`
/// works too: the run directory's `env` file is read. With neither, tests fail with a message saying
/// so; they never skip.
public enum TestStack {
    public struct NotRunning: Error, CustomStringConvertible {
        public let description: String
    }

    /// The repository root, found from this file's location.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static let environment: [String: String] = {
        var values = ProcessInfo.processInfo.environment
        let runDirectory = values["STACK_RUN_DIR"] ?? repositoryRoot + "/.run/test"
        if values["STREAMREC_REDIS_PORT"] == nil, let text = try? String(contentsOfFile: runDirectory + "/env", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                var line = Substring(line)
                if line.hasPrefix("export ") { line = line.dropFirst(7) }
                guard let equals = line.firstIndex(of: "=") else { continue }
                let value = line[line.index(after: equals)...].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                values[String(line[..<equals])] = value
            }
        }
        return values
    }()

    static func value(_ key: String) throws -> String {
        guard let value = environment[key], !value.isEmpty else {
            throw NotRunning(description: "\(key) is not set: start the test stack with `make test` (or `make stack-up` and `swift test`)")
        }
        return value
    }

    public static func redisConfiguration() throws -> RedisConfiguration {
        // A connect on loopback is instant, but with the whole suite running on 2 cores the test's event loop
        // has been seen to start it over 2 s late (the default bound); tests of the bound set their own.
        RedisConfiguration(host: try value("STREAMREC_REDIS_HOST"), port: Int(try value("STREAMREC_REDIS_PORT"))!, connectTimeout: .seconds(10))
    }

    public static func postgresConfiguration(statementTimeout: Duration? = .seconds(30)) throws -> PostgresConfiguration {
        PostgresConfiguration(
            host: try value("STREAMREC_POSTGRES_HOST"),
            port: Int(try value("STREAMREC_POSTGRES_PORT"))!,
            database: try value("STREAMREC_POSTGRES_DATABASE"),
            user: try value("STREAMREC_POSTGRES_USER"),
            password: try value("STREAMREC_POSTGRES_PASSWORD"),
            applicationName: "streamrec-tests",
            statementTimeout: statementTimeout
        )
    }

    public static func kafkaBrokers() throws -> [String] {
        try value("STREAMREC_KAFKA_BROKERS").split(separator: ",").map(String.init)
    }

    /// A name no other test or run uses (topics, groups, tables).
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `scripts/stack.sh` with extra environment (e.g. a private run dir and port) and returns
    /// its output; throws if it exits non-zero.
    @discardableResult
    public static func stackScript(_ arguments: [String], environment extra: [String: String]) throws -> String {
        let environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        let (status, output) = try spawnAndWait(["/bin/bash", repositoryRoot + "/scripts/stack.sh"] + arguments, environment: environment)
        guard status == 0 else {
            throw NotRunning(description: "stack.sh \(arguments.joined(separator: " ")) failed (\(status)): \(output)")
        }
        return output
    }

    /// Runs a program to completion with a clean signal mask (see ``spawnInBackground(_:environment:outputPath:)``)
    /// and returns its exit code and output. Output goes to a file, so a daemon that keeps the descriptor
    /// cannot make the caller wait.
    public static func spawnAndWait(_ arguments: [String], environment: [String: String]) throws -> (Int32, String) {
        let outputPath = NSTemporaryDirectory() + "streamrec-spawn-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        let pid = try spawnInBackground(arguments, environment: environment, outputPath: outputPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitCode, output)
    }

    /// Starts a program in the background, its output appended to `outputPath`; returns its pid (stop it
    /// with `kill`, reap it with ``waitForExit(_:timeout:)``).
    ///
    /// Foundation's `Process` spawns children with the calling thread's signal mask, and the threads
    /// Swift concurrency runs tests on block all signals: servers started that way would ignore SIGTERM
    /// forever. posix_spawn with an empty mask and default dispositions avoids that.
    ///
    /// The child gets only stdin, stdout and stderr: NIO accepts connections without `SOCK_CLOEXEC`, so a
    /// server started while another test's HTTP connection is open would otherwise keep that socket
    /// alive after the test's server closed it (seen: a slow-loris test saw its connection closed only
    /// when a broker another test had started was stopped).
    public static func spawnInBackground(_ arguments: [String], environment: [String: String], outputPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc ≥ 2.34 has it; Swift's Glibc module does not import it (a GNU extension): looked up by name.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw NotRunning(description: "cannot run \(arguments[0]): errno \(spawned)") }
        return pid
    }

    /// Waits for a child to exit; returns its exit code (128 + signal if killed), or nil on timeout.
    public static func waitForExit(_ pid: pid_t, timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// A built executable of this package (same build configuration as the tests).
    public static func executable(_ name: String) -> String {
        var url = Bundle.main.bundleURL
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path), url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent(name).path
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// 127.0.0.1:`port` as a socket address (port 0: any free port, for `bind`).
    public static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`; false if nothing did in time.
    public static func waitForListening(port: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopbackAddress(port: port)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            close(fd)
            if connected { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

extension TestStack {
    /// The environment of an ingest-gateway binary on the test stack: a producer key, no rate limit,
    /// the given topics and port, warnings only.
    public static func gatewayEnvironment(port: Int, apiKey: String, movieTopic: String, pollTopic: String) -> [String: String] {
        var environment = Self.environment
        environment["STREAMREC_CONFIG_DIR"] = repositoryRoot + "/configs"
        environment["STREAMREC_HTTP_PORT"] = String(port)
        environment["STREAMREC_GATEWAY_API_KEYS"] = "tests:\(apiKey)"
        environment["STREAMREC_GATEWAY_CATALOG_PRODUCERS"] = "tests"
        environment["STREAMREC_GATEWAY_RATE_LIMIT"] = "0"
        environment["STREAMREC_TOPICS_MOVIE"] = movieTopic
        environment["STREAMREC_TOPICS_POLL"] = pollTopic
        environment["STREAMREC_LOG_LEVEL"] = "warning"
        return environment
    }
}

/// One server of a test's own (to restart or stop it without disturbing other tests), started and
/// stopped by PID through `scripts/stack.sh` in a private run directory on a free port.
public class PrivateServer: @unchecked Sendable {
    public let component: String
    public let port: Int
    public let runDirectory: String
    private let portVariable: String

    private let extraEnvironment: [String: String]

    init(component: String, portVariable: String, environment: [String: String] = [:]) throws {
        self.component = component
        self.portVariable = portVariable
        extraEnvironment = environment
        port = TestStack.freePort()
        runDirectory = NSTemporaryDirectory() + "streamrec-\(component)-\(UUID().uuidString.prefix(8))"
        try start()
    }

    var environment: [String: String] { extraEnvironment.merging(["STACK_RUN_DIR": runDirectory, portVariable: String(port)]) { $1 } }

    public func start() throws { try TestStack.stackScript(["start", component], environment: environment) }
    public func restart() throws { try TestStack.stackScript(["restart", component], environment: environment) }
    public func stop() throws { try TestStack.stackScript(["stop", component], environment: environment) }

    /// Stops the server and deletes its run directory.
    public func remove() throws {
        try stop()
        try? FileManager.default.removeItem(atPath: runDirectory)
    }
}

/// A redis-server of a test's own.
public final class PrivateRedis: PrivateServer, @unchecked Sendable {
    /// - Parameter persistent: keep data across stop/start (append-only file), as a production Redis would.
    /// - Parameter cluster: a one-node Redis Cluster owning every slot: refuses keys of several slots in one
    ///   command or script (CROSSSLOT), as a real cluster does.
    /// With `tls`, also a TLS listener on ``tlsPort`` with the CA's server certificate (client certificates
    /// of the CA accepted, not required).
    public init(persistent: Bool = false, cluster: Bool = false, tls: TestCertificateAuthority? = nil) throws {
        var environment: [String: String] = [:]
        let tlsPort = tls.map { _ in TestStack.freePort() }
        self.tlsPort = tlsPort
        if let tls, let tlsPort {
            environment["REDIS_TLS_PORT"] = String(tlsPort)
            environment["REDIS_TLS_CERT"] = tls.serverCertificateFile
            environment["REDIS_TLS_KEY"] = tls.serverKeyFile
            environment["REDIS_TLS_CA"] = tls.caFile
        }
        if persistent { environment["REDIS_PERSIST"] = "1" }
        if cluster {
            environment["REDIS_CLUSTER"] = "1"
            environment["REDIS_CLUSTER_PORT"] = String(TestStack.freePort())  // the default, port + 10 000, may not exist
        }
        try super.init(component: "redis", portVariable: "REDIS_PORT", environment: environment)
    }
    public var configuration: RedisConfiguration { RedisConfiguration(host: "127.0.0.1", port: port) }
    /// The TLS listener's port, when started with a CA.
    public let tlsPort: Int?
}

/// A PostgreSQL server of a test's own (its own data directory; initdb on first start), to stop and start
/// without disturbing other tests.
public final class PrivatePostgres: PrivateServer, @unchecked Sendable {
    /// With `tls`, the server runs with `ssl=on` and the CA's server certificate (plaintext still accepted).
    public init(tls: TestCertificateAuthority? = nil) throws {
        var environment: [String: String] = [:]
        if let tls {
            environment["PG_SSL_CERT"] = tls.serverCertificateFile
            environment["PG_SSL_KEY"] = tls.serverKeyFile
        }
        try super.init(component: "postgres", portVariable: "PG_PORT", environment: environment)
    }
    public var configuration: PostgresConfiguration {
        PostgresConfiguration(
            host: "127.0.0.1", port: port, database: "streamrec", user: "streamrec", password: "streamrec", applicationName: "streamrec-tests",
            connectTimeout: .seconds(2)
        )
    }
}

/// A Kafka-protocol broker of a test's own.
public final class PrivateBroker: PrivateServer, @unchecked Sendable {
    public init() throws { try super.init(component: "kafka", portVariable: "KAFKA_PORT") }
    public var bootstrapServers: [String] { ["127.0.0.1:\(port)"] }
}

extension TestStack {
    /// Creates a PostgreSQL schema of the test's own and returns a configuration whose sessions use it
    /// (search_path), so tables of the same name in other tests never meet.
    public static func createSchema(_ name: String) async throws -> PostgresConfiguration {
        try await asAdministrator("CREATE SCHEMA \(identifier: name)")
        var configuration = try postgresConfiguration()
        configuration.searchPath = name
        return configuration
    }

    /// A new schema with the project's migrations applied (configs/migrations), and a client on it; drop
    /// it with ``dropSchema(_:)``.
    public static func migratedSchema(_ name: String) async throws -> PostgresClient {
        let postgres = PostgresClient(configuration: try await createSchema(name))
        _ = try await PostgresMigrator(directory: repositoryRoot + "/configs/migrations").migrate(postgres)
        return postgres
    }

    /// Drops a schema made by ``createSchema(_:)`` with everything in it.
    public static func dropSchema(_ name: String) async throws {
        try await asAdministrator("DROP SCHEMA \(identifier: name) CASCADE")
    }

    private static func asAdministrator(_ statement: PostgresQuery) async throws {
        let admin = PostgresClient(configuration: try postgresConfiguration())
        do {
            try await admin.query(statement)
        } catch {
            await admin.shutdown()
            throw error
        }
        await admin.shutdown()
    }
}
