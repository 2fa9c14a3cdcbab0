import ClientRuntime
import Foundation
import NIOPosix
@testable import Redis
import StackTestSupport
import Testing

/// The client in cluster mode against a real Redis Cluster of three masters on loopback, each test with a
/// cluster of its own (``PrivateRedisCluster``: `scripts/stack.sh` with `REDIS_CLUSTER=3`, stopped by PID). One
/// at a time: three masters each, and a live reshard, are a real load on a 2-core machine.
@Suite("Redis client against a real 3-master Redis Cluster", .serialized)
struct RedisClusterTests {
    @Test("key slots are Redis's: CRC16/XMODEM of the key or of its {hash tag}")
    func keySlots() {
        #expect(RedisHashSlot.slot(of: "123456789") == 0x31C3)
        #expect(RedisHashSlot.slot(of: "foo") == 12182)
        #expect(RedisHashSlot.slot(of: "{user1000}.following") == RedisHashSlot.slot(of: "{user1000}.followers"))
        #expect(RedisHashSlot.slot(of: "foo{}{bar}") != RedisHashSlot.slot(of: "bar"))  // an empty first tag: the whole key
        #expect(RedisHashSlot.slot(of: "foo{{bar}}zap") == RedisHashSlot.slot(of: "{bar"))
        #expect(RedisHashSlot.slot(of: "foo{bar}{zap}") == RedisHashSlot.slot(of: "bar"))
    }

    @Test("commands are routed by their keys: first argument, numkeys forms, scripts (all keys in one slot or refused), keyless to any master")
    func routing() {
        let slot = RedisHashSlot.slot(of: "{t}")
        #expect(RedisCommand("HGET", "{t}a", "f").clusterRouting == .slot(slot))
        #expect(RedisCommand("ZUNION", 2, "{t}a", "{t}b", "WITHSCORES").clusterRouting == .slot(slot))
        #expect(RedisCommand("EVALSHA", "abc", 2, "{t}a", "{t}b", "arg").clusterRouting == .slot(slot))
        #expect(RedisCommand("EVALSHA", "abc", 0, "arg").clusterRouting == .anyMaster)
        #expect(RedisCommand("MEMORY", "USAGE", "{t}a").clusterRouting == .slot(slot))
        for keyless in [RedisCommand("PING"), RedisCommand("SCRIPT", "LOAD", "return 1"), RedisCommand("scan", "0"), RedisCommand("MULTI")] {
            #expect(keyless.clusterRouting == .anyMaster)
        }
        guard case .crossSlot(let message) = RedisCommand("EVALSHA", "abc", 2, "{a}x", "{b}y").clusterRouting else {
            Issue.record("a script over two slots must be refused")
            return
        }
        #expect(message.hasPrefix("CROSSSLOT") && message.contains("hash tag"))
        #expect(RedisNodeAddress(parsing: ":7000", defaultHost: "10.0.0.1") == RedisNodeAddress(host: "10.0.0.1", port: 7000))
        #expect(RedisNodeAddress(parsing: "::1:7000", defaultHost: "x") == RedisNodeAddress(host: "::1", port: 7000))
        #expect(RedisNodeAddress(parsing: "host", defaultHost: "x") == nil)
    }

    @Test("the client's slot of a key is the cluster's (CLUSTER KEYSLOT), tags and binary keys included")
    func slotsAgreeWithTheServer() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let admin = RedisClient(configuration: RedisConfiguration(port: cluster.basePort, connections: 1))
        defer { Task { await admin.shutdown() } }
        var keys: [[UInt8]] = (0..<300).map { Array("key:\($0)".utf8) }
        keys += ["{u:42}:state:movie", "sr:v2:{pop:movie}:all:24h:7", "a{}b", "{}", "{", "}{x}", "x{y", "é{ü}"].map { Array($0.utf8) }
        keys.append([0, 255, 123, 1, 125, 13, 10])
        for key in keys {
            let reply = try await admin.send(RedisCommand("CLUSTER", "KEYSLOT", key))
            #expect(reply.int == Int64(RedisHashSlot.slot(of: key)), "\(key)")
        }
    }

    @Test("the main cases on a cluster: routing, pipelines across masters in order, errors, transactions, scripts", arguments: RedisConfiguration.IOModel.allCases)
    func mainCases(io: RedisConfiguration.IOModel) async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let client = RedisClient(configuration: cluster.configuration(io: io), eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.shutdown() } }

        #expect(try await client.masters().count == 3)
        #expect(try await client.send("PING") == .simpleString("PONG"))

        // 3 000 keys in one pipeline land on all three masters; the replies come back in the caller's order.
        let keys = (0..<3000).map { "k:\($0)" }
        let sets = try await client.pipeline(keys.enumerated().map { RedisCommand("SET", $0.element, "v\($0.offset)") })
        #expect(sets.allSatisfy { $0 == .simpleString("OK") })
        let gets = try await client.pipeline(keys.map { RedisCommand("GET", $0) })
        #expect(gets.enumerated().allSatisfy { $0.element.string == "v\($0.offset)" })
        let sizes = try await client.sendToEveryMaster(RedisCommand("DBSIZE")).map { $0.int ?? -1 }
        #expect(sizes.count == 3 && sizes.allSatisfy { $0 > 800 } && sizes.reduce(0, +) == 3000, "\(sizes)")

        // Commands on one key keep their order inside a pipeline spanning masters.
        var mixed: [RedisCommand] = []
        for round in 0..<200 { for key in ["a", "b", "c", "{a}x"] { mixed.append(RedisCommand("RPUSH", "list:\(key)", round)) } }
        let pushed = try await client.pipeline(mixed)
        #expect(pushed.enumerated().allSatisfy { $0.element == .integer(Int64($0.offset / 4 + 1)) })
        let list = try await client.send("LRANGE", "list:b", 0, -1)
        #expect(list.array?.compactMap(\.int) == (0..<200).map(Int64.init))

        // Binary-safe keys and values.
        let binaryKey: [UInt8] = [0, 13, 10, 42, 36, 123, 125]
        let binaryValue: [UInt8] = [0, 255, 13, 10, 0]
        try await client.send(RedisCommand("SET", binaryKey, binaryValue))
        #expect(try await client.send(RedisCommand("GET", binaryKey)) == .bulkString(binaryValue))

        // Error replies: thrown by send, values in place inside a pipeline.
        let wrongType = await #expect(throws: RedisError.self) { try await client.send("HGET", "k:1", "f") }
        #expect(wrongType?.serverErrorCode == "WRONGTYPE")
        let withError = try await client.pipeline([RedisCommand("INCR", "n:1"), RedisCommand("HGET", "k:2", "f"), RedisCommand("INCR", "n:2")])
        #expect(withError[0] == .integer(1) && withError[2] == .integer(1))
        if case .error(let message) = withError[1] { #expect(message.hasPrefix("WRONGTYPE")) } else { Issue.record("expected WRONGTYPE, got \(withError[1])") }
        // A multi-key command across slots: the server's CROSSSLOT, as a value.
        let crossSlot = await #expect(throws: RedisError.self) { try await client.send("MGET", "k:1", "k:2") }
        #expect(crossSlot?.serverErrorCode == "CROSSSLOT")
        #expect(try await client.send("MGET", "{t}1", "{t}2").array?.count == 2)

        // Transactions on one hash tag, several at once on different masters.
        let transactions = try await withThrowingTaskGroup(of: [RedisValue].self) { group in
            for user in 0..<30 {
                group.addTask {
                    try await client.transaction([
                        RedisCommand("HSET", "{u:\(user)}:state", "a", user), RedisCommand("INCR", "{u:\(user)}:n"), RedisCommand("HGET", "{u:\(user)}:state", "a"),
                    ])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(transactions.count == 30 && transactions.allSatisfy { $0.count == 3 && $0[1] == .integer(1) })
        // A transaction whose keys span slots is refused whole (EXECABORT), with nothing applied.
        await #expect(throws: RedisError.self) { try await client.transaction([RedisCommand("SET", "{t1}x", "1"), RedisCommand("SET", "{t2}y", "1")]) }
        #expect(try await client.send("EXISTS", "{t1}x") == .integer(0))
        // Transactions inside a larger pipeline stay whole and in place.
        let pipelined = try await client.pipeline([
            RedisCommand("SET", "p:1", "x"), RedisCommand("MULTI"), RedisCommand("INCR", "{m}a"), RedisCommand("INCR", "{m}a"), RedisCommand("EXEC"),
            RedisCommand("GET", "p:1"),
        ])
        #expect(pipelined.count == 6 && pipelined[4] == .array([.integer(1), .integer(2)]) && pipelined[5].string == "x")

        // Scripts: each master loads the script the first time it runs there (NOSCRIPT), and again after SCRIPT FLUSH.
        let script = RedisScript("redis.call('INCRBY', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[2], ARGV[1])")
        for tag in 0..<40 {
            #expect(try await client.evaluate(script, keys: ["{s\(tag)}a", "{s\(tag)}b"], arguments: [2]) == .integer(2))
        }
        _ = try await client.sendToEveryMaster(RedisCommand("SCRIPT", "FLUSH"))
        for tag in 0..<40 {
            #expect(try await client.evaluate(script, keys: ["{s\(tag)}a", "{s\(tag)}b"], arguments: [3]) == .integer(5))
        }
        // A script whose keys are in several slots is refused before it is sent, naming the rule.
        let refused = await #expect(throws: RedisError.self) { try await client.evaluate(script, keys: ["{s1}a", "{s2}b"], arguments: [1]) }
        #expect(refused?.serverErrorCode == "CROSSSLOT", "\(String(describing: refused))")
        #expect("\(String(describing: refused))".contains("hash tag"))
        #expect(try await client.send("GET", "{s1}a").int == 5)

        // Thousands of commands spread over each master's connections.
        let many = (0..<6000).map { RedisCommand("INCR", "many:\($0 % 1500)") }
        let counted = try await client.pipelineAcrossConnections(many, minimumPart: 256)
        #expect(counted.count == 6000 && counted.allSatisfy { if case .integer = $0 { true } else { false } })
        let totals = try await client.pipeline((0..<1500).map { RedisCommand("GET", "many:\($0)") })
        #expect(totals.allSatisfy { $0.int == 4 })
        #expect(client.openConnections >= 3)
    }

    @Test("MOVED: after a slot moved to another master the client follows, reads the slot map again and routes there", arguments: RedisConfiguration.IOModel.allCases)
    func followsMoved(io: RedisConfiguration.IOModel) async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let client = RedisClient(configuration: cluster.configuration(io: io), eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.shutdown() } }
        let keys = (0..<20).map { "{moved}:\($0)" }
        _ = try await client.pipeline(keys.map { RedisCommand("SET", $0, $0) })  // the client knows the map now
        let slot = RedisHashSlot.slot(of: "{moved}")
        let source = try await cluster.owner(of: slot)
        let target = cluster.masterPorts.first { $0 != source }!
        try await ClusterAdmin.migrate(slot: slot, from: source, to: target, cluster: cluster, keys: .all)

        // The client still thinks `source` owns the slot: MOVED, followed.
        let values = try await client.pipeline(keys.map { RedisCommand("GET", $0) } + [RedisCommand("GET", "elsewhere")])
        #expect(values.dropLast().map(\.string) == keys.map(Optional.some))
        #expect(client.clusterRedirections.moved == keys.count && client.clusterRedirections.slotMapReads == 2, "\(client.clusterRedirections)")
        #expect(try await client.send("INCR", "{moved}:n") == .integer(1))
        #expect(try await ClusterAdmin.send(RedisCommand("GET", "{moved}:n"), port: target).int == 1)
        #expect(try await ClusterAdmin.send(RedisCommand("DBSIZE"), port: source).int == 0)
        try await client.transaction([RedisCommand("SET", "{moved}:t", "1"), RedisCommand("INCR", "{moved}:t")])
        #expect(try await client.send("GET", "{moved}:t").int == 2)
    }

    @Test("ASK during a migration: moved keys are read and written on the target with ASKING, the rest on the source; the map is not changed", arguments: RedisConfiguration.IOModel.allCases)
    func followsAsk(io: RedisConfiguration.IOModel) async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let client = RedisClient(configuration: cluster.configuration(io: io), eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.shutdown() } }
        let keys = (0..<10).map { "{ask}:\($0)" }
        _ = try await client.pipeline(keys.map { RedisCommand("SET", $0, $0) })
        let slot = RedisHashSlot.slot(of: "{ask}")
        let source = try await cluster.owner(of: slot)
        let target = cluster.masterPorts.first { $0 != source }!
        // Half the keys moved; the slot stays MIGRATING on the source and IMPORTING on the target.
        try await ClusterAdmin.migrate(slot: slot, from: source, to: target, cluster: cluster, keys: .some(Array(keys.prefix(5))))

        let values = try await client.pipeline(keys.map { RedisCommand("GET", $0) })
        #expect(values.map(\.string) == keys.map(Optional.some))
        #expect(client.clusterRedirections.ask == 5 && client.clusterRedirections.moved == 0 && client.clusterRedirections.slotMapReads == 1, "\(client.clusterRedirections)")
        // A new key of the slot is not on the source: written on the target.
        #expect(try await client.send("INCR", "{ask}:new") == .integer(1))
        // (The source itself answers ASK for a key of the migrating slot it does not hold.)
        let onSource = try await ClusterAdmin.send(RedisCommand("EXISTS", "{ask}:new"), port: source)
        #expect(onSource.isRedirection("ASK"), "\(onSource)")
        let onTarget = try await ClusterAdmin.send(RedisCommand("GET", "{ask}:new"), port: target, asking: true)
        #expect(onTarget.int == 1)
        // A transaction on moved keys: refused when queued on the source (ASK, EXECABORT), then run on the target.
        let replies = try await client.transaction([RedisCommand("SET", "{ask}:1", "x"), RedisCommand("GET", "{ask}:1")])
        #expect(replies == [.simpleString("OK"), .bulkString(Array("x".utf8))])
        // Unmoved keys are still served by the source.
        #expect(try await client.send("APPEND", "{ask}:7", "!") == .integer(Int64("{ask}:7!".utf8.count)))
        #expect(try await ClusterAdmin.send(RedisCommand("GET", "{ask}:7"), port: source).string == "{ask}:7!")
        // ASK did not change the map: the source still owns the slot for the cluster and for the client.
        #expect(try await cluster.owner(of: slot) == source)

        // The migration completes: now MOVED, and the client follows that too.
        try await ClusterAdmin.migrate(slot: slot, from: source, to: target, cluster: cluster, keys: .all, prepare: false)
        let after = try await client.pipeline(keys.map { RedisCommand("GET", $0) })
        #expect(after[1].string == "x" && after[7].string == "{ask}:7!" && after[0].string == "{ask}:0")
        #expect(try await client.send("GET", "{ask}:new").int == 1)
    }

    @Test("a master that goes away and comes back: its slots fail as retriable while it is down, the others' keep working, and it serves again once back", arguments: RedisConfiguration.IOModel.allCases)
    func masterGoesAwayAndComesBack(io: RedisConfiguration.IOModel) async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        var configuration = cluster.configuration(io: io)
        configuration.reconnectBackoff = .init(initial: .milliseconds(20), maximum: .milliseconds(200))
        let client = RedisClient(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.shutdown() } }
        var keyOn: [Int: String] = [:]
        for index in 0..<100 where keyOn.count < 3 {
            let key = "restart:\(index)"
            let port = try await cluster.owner(of: RedisHashSlot.slot(of: key))
            if keyOn[port] == nil { keyOn[port] = key }
        }
        for key in keyOn.values { try await client.send("SET", key, "before") }
        let down = cluster.masterPorts[1], up = cluster.masterPorts[0]
        try await cluster.stopMaster(1)
        // The other masters serve, before and after the cluster marks the master failed (cluster-node-timeout
        // 5 s): scripts/stack.sh sets cluster-require-full-coverage no.
        let error = await #expect(throws: RedisError.self) { try await client.send("GET", keyOn[down]!) }
        #expect(error?.isRetriable == true, "\(String(describing: error))")
        #expect(try await client.send("GET", keyOn[up]!).string == "before")
        // Once the others have marked it failed, too.
        var markedFailed = false
        for _ in 0..<150 where !markedFailed {
            let nodes = try await ClusterAdmin.send(RedisCommand("CLUSTER", "NODES"), port: up).string ?? ""
            markedFailed = nodes.split(separator: "\n").contains { $0.contains("127.0.0.1:\(down)@") && $0.contains(",fail") }
            if !markedFailed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(markedFailed, "127.0.0.1:\(down) marked failed within 15 s")
        #expect(try await client.send("GET", keyOn[up]!).string == "before")

        try await cluster.startStoppedMasters()
        var served = false
        for _ in 0..<100 where !served {
            if (try? await client.send("SET", keyOn[down]!, "after")) != nil { served = true } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(served)
        #expect(try await client.send("GET", keyOn[down]!).string == "after")
        #expect(try await client.send("GET", keyOn[up]!).string == "before")
        #expect(client.clusterRedirections.slotMapReads >= 2, "the lost master made the client read the map again")
    }

    @Test("a live reshard (redis-cli --cluster reshard) under a steady write load: nothing lost, nothing counted twice")
    func liveReshard() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        // Both I/O models write at once.
        let clients = [
            RedisClient(configuration: cluster.configuration(io: .threads)),
            RedisClient(configuration: cluster.configuration(io: .eventLoops), eventLoopGroup: MultiThreadedEventLoopGroup.singleton),
        ]
        defer { Task { for client in clients { await client.shutdown() } } }
        let counters = 3000
        let source = cluster.masterPorts[0], target = cluster.masterPorts[1]
        let slotsBefore = try await cluster.slotCount(port: target)
        let done = OnceFlag()

        let writers = (0..<6).map { writer in
            Task { () -> (counts: [Int: Int], errors: [String]) in
                var counts: [Int: Int] = [:]
                var errors: [String] = []
                var random = SystemRandomNumberGenerator()
                let client = clients[writer % 2]
                while !done.isSet || counts.values.reduce(0, +) < 2000 {
                    let picked = (0..<20).map { _ in Int.random(in: 0..<counters, using: &random) }
                    var commands = picked.map { RedisCommand("INCR", "{c\($0)}:n") }
                    // A script and a transaction per round too, each on one counter's slot.
                    commands.append(RedisCommand("MULTI"))
                    commands.append(RedisCommand("HINCRBY", "{c\(picked[0])}:h", "n", 1))
                    commands.append(RedisCommand("EXEC"))
                    do {
                        let replies = try await client.pipeline(commands)
                        let failed = replies.enumerated().filter { if case .error = $0.element { true } else { false } }
                        if failed.isEmpty {
                            for counter in picked { counts[counter, default: 0] += 1 }
                            counts[-1 - picked[0], default: 0] += 1  // the hash's count, keyed apart
                        } else {
                            errors.append("\(failed.prefix(3))")
                        }
                        _ = try await client.evaluate(Self.incrementScript, keys: ["{c\(picked[1])}:s"], arguments: [1])
                        counts[counters + picked[1], default: 0] += 1
                    } catch {
                        errors.append("\(error)")
                    }
                }
                return (counts, errors)
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        var reshardTook = Duration.zero
        var reshardError: (any Error)?
        do { reshardTook = try await cluster.reshard(slots: 1200, from: source, to: target) } catch { reshardError = error }
        try await Task.sleep(for: .milliseconds(300))
        done.set()
        var counts: [Int: Int] = [:]
        var errors: [String] = []
        for writer in writers {
            let result = await writer.value
            counts.merge(result.counts, uniquingKeysWith: +)
            errors += result.errors
        }
        if let reshardError { throw reshardError }
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        #expect(try await cluster.slotCount(port: target) == slotsBefore + 1200)

        // Every acknowledged increment is there exactly once.
        let client = clients[0]
        let ids = Array(0..<counters)
        let values = try await client.pipeline(ids.map { RedisCommand("GET", "{c\($0)}:n") })
        let hashes = try await client.pipeline(ids.map { RedisCommand("HGET", "{c\($0)}:h", "n") })
        let scripted = try await client.pipeline(ids.map { RedisCommand("GET", "{c\($0)}:s") })
        var mismatches: [String] = []
        for id in ids {
            if (values[id].int ?? 0) != Int64(counts[id] ?? 0) { mismatches.append("n \(id): \(values[id]) vs \(counts[id] ?? 0)") }
            if (hashes[id].int ?? 0) != Int64(counts[-1 - id] ?? 0) { mismatches.append("h \(id)") }
            if (scripted[id].int ?? 0) != Int64(counts[counters + id] ?? 0) { mismatches.append("s \(id)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        // The writers were redirected: the reshard really happened under them.
        let redirections = clients.map(\.clusterRedirections)
        #expect(redirections.allSatisfy { $0.moved > 0 }, "\(redirections)")
        let total = counts.filter { $0.key >= 0 && $0.key < counters }.values.reduce(0, +)
        #expect(total > 2000)
        print("live reshard: 1200 slots in \(reshardTook), \(total) increments (+ transactions and scripts) during it, none lost or doubled; redirections \(redirections)")
    }

    static let incrementScript = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
}

extension RedisValue {
    func isRedirection(_ kind: String) -> Bool {
        if case .error(let message) = self { return message.hasPrefix(kind + " ") }
        return false
    }
}

/// Administration of a test's cluster through standalone connections to its masters.
enum ClusterAdmin {
    enum Keys {
        case all
        case some([String])
    }

    /// One command to one master, without following redirections; `asking`: preceded by `ASKING` (what an
    /// importing master needs to serve a key of the slot).
    static func send(_ command: RedisCommand, port: Int, asking: Bool = false) async throws -> RedisValue {
        let client = RedisClient(configuration: RedisConfiguration(port: port, connections: 1))
        defer { Task { await client.shutdown() } }
        return try await client.pipeline((asking ? [RedisCommand("ASKING")] : []) + [command]).last!
    }

    /// Moves keys of `slot` from `source` to `target` as `redis-cli --cluster reshard` does (IMPORTING on
    /// the target, MIGRATING on the source, MIGRATE); with `.all` the slot is then given to the target on
    /// every master, else it is left mid-migration.
    static func migrate(slot: Int, from source: Int, to target: Int, cluster: PrivateRedisCluster, keys: Keys, prepare: Bool = true) async throws {
        let (sourceID, targetID) = try await offThePool { (try cluster.nodeID(port: source), try cluster.nodeID(port: target)) }
        if prepare {
            try expectOK(try await send(RedisCommand("CLUSTER", "SETSLOT", slot, "IMPORTING", sourceID), port: target))
            try expectOK(try await send(RedisCommand("CLUSTER", "SETSLOT", slot, "MIGRATING", targetID), port: source))
        }
        var moving: [String]
        switch keys {
        case .some(let some): moving = some
        case .all:
            let reply = try await send(RedisCommand("CLUSTER", "GETKEYSINSLOT", slot, 100_000), port: source)
            moving = reply.array?.compactMap(\.string) ?? []
        }
        if !moving.isEmpty {
            var migrate = RedisCommand("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS")
            for key in moving { migrate.append(key) }
            try expectOK(try await send(migrate, port: source))
        }
        guard case .all = keys else { return }
        for port in [target, source] + cluster.masterPorts.filter({ $0 != source && $0 != target }) {
            try expectOK(try await send(RedisCommand("CLUSTER", "SETSLOT", slot, "NODE", targetID), port: port))
        }
    }

    private static func expectOK(_ reply: RedisValue) throws {
        guard reply == .simpleString("OK") else { throw RedisError.unexpectedReply("\(reply)") }
    }
}
