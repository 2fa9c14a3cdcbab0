import ClientRuntime
import Foundation
import NIOPosix
import Redis
import StackTestSupport
import Testing

extension RedisConfiguration.IOModel: CaseIterable {
    public static let allCases: [Self] = [.threads, .eventLoops]
}

/// A client with either I/O model. Event-loop clients get a group of one loop, so "one connection" holds
/// for them as for a one-lane thread client (the tests below that count connections rely on it).
func makeClient(_ io: RedisConfiguration.IOModel, _ configure: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisClient {
    var configuration = try TestStack.redisConfiguration()
    configuration.io = io
    configure(&configuration)
    return RedisClient(configuration: configuration, eventLoopGroup: oneLoop)
}

private let oneLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

@Suite("Redis client against a real redis-server")
struct RedisClientTests {
    let prefix = TestStack.uniqueName("test")

    @Test("10k commands in one pipeline come back in order", arguments: RedisConfiguration.IOModel.allCases)
    func pipelineOf10k(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io)
        defer { Task { await client.shutdown() } }
        let key = "\(prefix):counter"
        var commands = (0..<10_000).map { _ in RedisCommand("INCR", key) }
        commands.append(RedisCommand("GET", key))
        let replies = try await client.pipeline(commands)
        #expect(replies.count == 10_001)
        #expect(replies[0] == .integer(1))
        #expect(replies[9_999] == .integer(10_000))
        #expect(replies[10_000].int == 10_000)
        // Every reply is the next integer: nothing was lost or reordered.
        #expect(replies.prefix(10_000).enumerated().allSatisfy { $0.element == .integer(Int64($0.offset + 1)) })
        try await client.send("DEL", key)
    }

    @Test("keys and values with NUL, CR/LF, '*' and '$' are stored byte for byte", arguments: RedisConfiguration.IOModel.allCases)
    func binarySafety(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io)
        defer { Task { await client.shutdown() } }
        let hostileKey: [UInt8] = Array("\(prefix):k".utf8) + [0, 13, 10, 42, 36, 0x33, 13, 10, 0xff]
        let hostileValue: [UInt8] = [0, 0, 13, 10] + Array("*3\r\n$3\r\nSET\r\n".utf8) + [0xfe, 0xff, 0]
        try await client.send(RedisCommand("SET", hostileKey, hostileValue))
        let value = try await client.send(RedisCommand("GET", hostileKey))
        #expect(value == .bulkString(hostileValue))
        // The protocol-looking value did not execute as a command: only our key exists under the prefix.
        let keys = try await client.send(RedisCommand("KEYS", "\(prefix):*"))
        #expect(keys == .array([.bulkString(hostileKey)]))
        let strlen = try await client.send(RedisCommand("STRLEN", hostileKey))
        #expect(strlen == .integer(Int64(hostileValue.count)))
        try await client.send(RedisCommand("DEL", hostileKey))
    }

    @Test("an error reply throws with its code; inside a pipeline it is a value in place", arguments: RedisConfiguration.IOModel.allCases)
    func errorReplies(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io)
        defer { Task { await client.shutdown() } }
        let key = "\(prefix):list"
        try await client.send("RPUSH", key, "a")
        let error = await #expect(throws: RedisError.self) { try await client.send("INCR", key) }
        #expect(error?.serverErrorCode == "WRONGTYPE")
        #expect(error?.isRetriable == false)
        let replies = try await client.pipeline([RedisCommand("INCR", key), RedisCommand("LLEN", key)])
        guard case .error(let message) = replies[0] else {
            Issue.record("expected an error value, got \(replies[0])")
            return
        }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect(replies[1] == .integer(1))
        try await client.send("DEL", key)
    }

    @Test("a transaction returns its commands' replies in order; a command refused when queued aborts it whole", arguments: RedisConfiguration.IOModel.allCases)
    func transactions(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io)
        defer { Task { await client.shutdown() } }
        let (counter, list) = ("\(prefix):tx:counter", "\(prefix):tx:list")
        try await client.send("RPUSH", list, "a")
        let replies = try await client.transaction([RedisCommand("INCR", counter), RedisCommand("INCR", list), RedisCommand("GET", counter)])
        #expect(replies.count == 3)
        #expect(replies[0] == .integer(1))
        // A command that fails when run is a value in place; the others still ran.
        guard case .error(let message) = replies[1] else {
            Issue.record("expected an error value, got \(replies[1])")
            return
        }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect(replies[2].int == 1)
        // A command the server refuses to queue (wrong arity): EXECABORT, and nothing of it ran.
        let error = await #expect(throws: RedisError.self) {
            try await client.transaction([RedisCommand("INCR", counter), RedisCommand("GET")])
        }
        #expect(error?.serverErrorCode == "EXECABORT")
        #expect(try await client.send("GET", counter).int == 1)
        // The connection is usable afterwards (no transaction left open on it).
        #expect(try await client.send("INCR", counter) == .integer(2))
        try await client.send("DEL", counter, list)
    }

    // Serialized: the two cases must not flush each other's script between their own steps.
    @Test("scripts run by SHA and are reloaded after SCRIPT FLUSH (NOSCRIPT)", .serialized, arguments: RedisConfiguration.IOModel.allCases)
    func scriptReloadAfterFlush(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io)
        defer { Task { await client.shutdown() } }
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let key = "\(prefix):scripted"
        #expect(try await client.evaluate(script, keys: [key], arguments: [5]) == .integer(5))
        let sha = try #require(script.currentSHA)
        try await client.send("SCRIPT", "FLUSH")
        #expect(try await client.send("SCRIPT", "EXISTS", sha) == .array([.integer(0)]))
        // EVALSHA now answers NOSCRIPT; the client reloads and runs it once.
        #expect(try await client.evaluate(script, keys: [key], arguments: [2]) == .integer(7))
        #expect(try await client.send("SCRIPT", "EXISTS", sha) == .array([.integer(1)]))
        try await client.send("DEL", key)
    }

    @Test("the client never opens more connections than configured; concurrent requests are all answered")
    func boundedConnections() async throws {
        var configuration = try TestStack.redisConfiguration()
        configuration.connections = 3
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        let key = "\(prefix):pooled"
        let observedMaximum = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<600 {
                group.addTask {
                    try await client.send("INCR", key)
                    return client.openConnections
                }
            }
            return try await group.reduce(0) { max($0, $1) }
        }
        #expect(observedMaximum <= 3)
        #expect(observedMaximum >= 1)
        #expect(try await client.send("GET", key).int == 600)
        try await client.send("DEL", key)
    }

    @Test("fill-first lanes: one caller at a time uses one connection; concurrent load opens more; round-robin uses all")
    func fillFirstLanes() async throws {
        var configuration = try TestStack.redisConfiguration()
        configuration.connections = 4
        let key = "\(prefix):lanes"
        // Fill-first, one request at a time: never more than one queued or in flight, so lane 0 serves all.
        configuration.laneFill = 1
        let sequential = RedisClient(configuration: configuration)
        for _ in 0..<40 { try await sequential.send("INCR", key) }
        #expect(sequential.openConnections == 1)
        // Fill-first under concurrent load: a lane holding one request sends the next caller on.
        let concurrent = RedisClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<400 { group.addTask { try await concurrent.send("INCR", key) } }
            try await group.waitForAll()
        }
        #expect(concurrent.openConnections > 1)
        // Round-robin (0): sequential requests still visit every lane.
        configuration.laneFill = 0
        let spread = RedisClient(configuration: configuration)
        for _ in 0..<40 { try await spread.send("INCR", key) }
        #expect(spread.openConnections == 4)
        #expect(try await spread.send("GET", key).int == 480)
        try await spread.send("DEL", key)
        for client in [sequential, concurrent, spread] { await client.shutdown() }
    }

    @Test("queued requests beyond the configured bound fail fast as retriable overload", arguments: RedisConfiguration.IOModel.allCases)
    func overload(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io) {
            $0.connections = 1
            $0.maximumQueuedRequests = 5
            $0.commandTimeout = .seconds(90)  // the blocker below waits for its release, however long it takes
        }
        defer { Task { await client.shutdown() } }
        let key = "\(prefix):overload"
        let list = "\(prefix):release-\(io)"
        // Hold the only lane with a command that blocks on the server until this test releases it (a fixed
        // time once: on a loaded machine the requests below were not all queued before it ran out)...
        async let blocker = client.send("BLPOP", list, "60")
        try await Task.sleep(for: .milliseconds(300))
        // ...so these queue up: five fit (a thread lane counts its queue; an event-loop lane writes at once
        // and counts everything unanswered, the blocker included, so four), the rest are refused at once.
        let accepted = io == .threads ? 5 : 4
        let outcomes = await withTaskGroup(of: RedisError?.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do throws(RedisError) {
                        try await client.send("INCR", key)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            // The refusals come back at once; the accepted requests wait for the blocker.
            var outcomes: [RedisError?] = []
            while outcomes.count < 20 - accepted, let outcome = await group.next() { outcomes.append(outcome) }
            try? await Task.sleep(for: .milliseconds(200))  // a wrongly accepted one would show up now
            let releaser = try? makeClient(io) { _ in }
            _ = try? await releaser?.send("LPUSH", list, "go")
            await releaser?.shutdown()
            while let outcome = await group.next() { outcomes.append(outcome) }
            return outcomes
        }
        #expect(try await blocker != .null)
        let refused = outcomes.compactMap { $0 }
        #expect(refused.count == 20 - accepted)
        #expect(refused.allSatisfy { $0 == .overloaded && $0.isRetriable })
        // What was accepted was applied exactly once.
        #expect(try await client.send("GET", key).int == Int64(accepted))
        try await client.send("DEL", key)
    }

    @Test("a command that outlives the command timeout fails as a retriable lost connection", arguments: RedisConfiguration.IOModel.allCases)
    func commandTimeout(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io) { $0.commandTimeout = .milliseconds(200) }
        defer { Task { await client.shutdown() } }
        let started = ContinuousClock.now
        // BLPOP's own expiry answers nil, not an error: the error is the client's timeout. The bound on the
        // time is far above 200 ms (a loaded machine starting the whole suite stalled this test 11 s once)
        // and far below BLPOP's 120 s.
        let error = await #expect(throws: RedisError.self) {
            try await client.send("BLPOP", "\(prefix):never", 120)
        }
        #expect(ContinuousClock.now - started < .seconds(60), "the 200 ms timeout fired, not BLPOP's own 120 s")
        #expect(error?.isRetriable == true)
        // The broken connection was discarded; the next command gets a fresh one.
        #expect(try await client.send("PING") == .simpleString("PONG"))
    }

    @Test("no server: connect fails fast with a retriable error", arguments: RedisConfiguration.IOModel.allCases)
    func connectFailure(io: RedisConfiguration.IOModel) async throws {
        let client = try makeClient(io) { $0.port = TestStack.freePort() }
        defer { Task { await client.shutdown() } }
        let error = await #expect(throws: RedisError.self) { try await client.send("PING") }
        guard case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
        #expect(error?.isRetriable == true)
    }
}

@Suite("Redis client across a server restart")
struct RedisRestartTests {
    @Test("after redis-server restarts, the client reconnects by itself", arguments: RedisConfiguration.IOModel.allCases)
    func reconnectAfterRestart(io: RedisConfiguration.IOModel) async throws {
        let server = try await offThePool { try PrivateRedis() }
        defer { try? server.remove() }
        var configuration = server.configuration
        configuration.connections = 2
        configuration.io = io
        configuration.reconnectBackoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        let client = RedisClient(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.shutdown() } }

        try await client.send("SET", "before", "1")
        try await offThePool { try server.restart() }  // data is not persisted (--save ''), so "before" is gone afterwards

        // The stale pooled connection is detected on checkout; at most a few retriable failures while
        // the server comes back, then success without creating a new client.
        var failures: [RedisError] = []
        var reply: RedisValue?
        let deadline = ContinuousClock.now + .seconds(10)
        while reply == nil, ContinuousClock.now < deadline {
            do {
                reply = try await client.send("SET", "after", "2")
            } catch {
                failures.append(error)
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(reply == .simpleString("OK"))
        #expect(failures.allSatisfy { $0.isRetriable })
        #expect(try await client.send("GET", "after").string == "2")
        #expect(try await client.send("EXISTS", "before") == .integer(0))
    }
}
