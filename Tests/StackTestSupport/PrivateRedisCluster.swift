import ClientRuntime
import Foundation
import Redis

#if canImport(Glibc)
import Glibc
#endif

/// A Redis Cluster of three masters of a test's own, on loopback: started by `scripts/stack.sh` with
/// `REDIS_CLUSTER=3` in a private run directory (its masters on three consecutive free ports, their cluster
/// bus ports 10 000 above), and stopped by PID through the same script. Start failures throw: a test that
/// needs a cluster never skips.
public final class PrivateRedisCluster: PrivateServer, @unchecked Sendable {
    public static let masterCount = 3
    /// The first master's port (the seed); the others follow it.
    public let basePort: Int

    /// Starts a cluster on a thread of its own: creating one blocks for a second or two (`redis-cli --cluster
    /// create`, waiting for `cluster_state:ok`), which on the cooperative pool would stall every other test.
    public static func start() async throws -> PrivateRedisCluster {
        try await onDedicatedThread { Result(catching: { try PrivateRedisCluster() }) }.get()
    }

    /// Blocks while the cluster starts: prefer ``start()`` from async code.
    public init() throws {
        basePort = try Self.freePortBase()
        try super.init(
            component: "redis", portVariable: "REDIS_PORT",
            environment: ["REDIS_CLUSTER": String(Self.masterCount), "REDIS_CLUSTER_PORT": String(basePort)]
        )
    }

    /// The client's configuration: cluster mode, seeded with the first master.
    public func configuration(io: RedisConfiguration.IOModel = .threads, connections: Int = 2) -> RedisConfiguration {
        RedisConfiguration(host: "127.0.0.1", port: basePort, connections: connections, io: io, cluster: true)
    }

    public var masterPorts: [Int] { (0..<Self.masterCount).map { basePort + $0 } }

    /// Runs `redis-cli` with the arguments and returns its output; throws if it fails.
    @discardableResult
    public func redisCLI(_ arguments: [String]) throws -> String {
        let (status, output) = try TestStack.spawnAndWait(["/usr/bin/env", "redis-cli"] + arguments, environment: ProcessInfo.processInfo.environment)
        guard status == 0 else { throw TestStack.NotRunning(description: "redis-cli \(arguments.joined(separator: " ")) failed (\(status)): \(output)") }
        return output
    }

    /// The node id of the master on `port` (`CLUSTER MYID`).
    public func nodeID(port: Int) throws -> String {
        try redisCLI(["-h", "127.0.0.1", "-p", String(port), "cluster", "myid"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The port of the master that owns `slot`, as the first master's `CLUSTER SLOTS` says.
    public func owner(of slot: Int) async throws -> Int {
        for (start, end, port) in try await slotRanges() where start <= slot && slot <= end { return port }
        throw RedisError.unexpectedReply("slot \(slot) unassigned")
    }

    /// How many slots the master on `port` owns.
    public func slotCount(port: Int) async throws -> Int {
        try await slotRanges().filter { $0.port == port }.reduce(0) { $0 + $1.end - $1.start + 1 }
    }

    private func slotRanges() async throws -> [(start: Int, end: Int, port: Int)] {
        let admin = RedisClient(configuration: RedisConfiguration(port: basePort, connections: 1))
        defer { Task { await admin.shutdown() } }
        let reply = try await admin.send(RedisCommand("CLUSTER", "SLOTS"))
        return (reply.array ?? []).compactMap { range in
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int, let node = parts[2].array, node.count >= 2,
                let port = node[1].int
            else { return nil }
            return (Int(start), Int(end), Int(port))
        }
    }

    /// Moves `slots` slots from the master on port `from` to the one on `to` with `redis-cli --cluster reshard`
    /// (run on a thread of its own: it blocks), while the caller's load goes on. Returns how long it took.
    public func reshard(slots: Int, from source: Int, to target: Int) async throws -> Duration {
        let started = ContinuousClock.now
        let result = await onDedicatedThread {
            Result(catching: {
                let (sourceID, targetID) = (try self.nodeID(port: source), try self.nodeID(port: target))
                return try self.redisCLI([
                    "--cluster", "reshard", "127.0.0.1:\(source)", "--cluster-from", sourceID, "--cluster-to", targetID,
                    "--cluster-slots", String(slots), "--cluster-yes", "--cluster-pipeline", "20",
                ])
            })
        }
        _ = try result.get()
        return ContinuousClock.now - started
    }

    /// Stops master `index` (SIGTERM to the PID `scripts/stack.sh` recorded) and waits until it is gone.
    public func stopMaster(_ index: Int) async throws {
        let pidFile = runDirectory + "/pids/redis-cluster-\(index).pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestStack.NotRunning(description: "no pid file \(pidFile)")
        }
        kill(pid, SIGTERM)
        for _ in 0..<200 where kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(25)) }
    }

    /// Starts the masters that are not running again (`scripts/stack.sh start redis`: same ports and
    /// nodes.conf, so the same slots; no persistence, so empty), and waits for `cluster_state:ok`.
    public func startStoppedMasters() async throws {
        try await onDedicatedThread { Result(catching: { try self.start() }) }.get()
    }

    /// Three consecutive ports free, and free 10 000 above (the cluster bus ports).
    static func freePortBase() throws -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 20_000...(65_535 - 10_000 - masterCount))
            let ports = (0..<masterCount).flatMap { [base + $0, base + $0 + 10_000] }
            if ports.allSatisfy(isFree) { return base }
        }
        throw TestStack.NotRunning(description: "no free port range for a Redis Cluster")
    }

    private static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
    }
}
