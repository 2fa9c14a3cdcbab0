import NIOCore
import NIOPosix
import StackTestSupport
import Testing

@testable import Redis

@Suite("Redis over NIO event loops")
struct RedisEventLoopTests {
    let prefix = TestStack.uniqueName("loop")

    /// An event-loop client over a group of two loops of its own (the test shuts both down).
    private func twoLoopClient() throws -> (MultiThreadedEventLoopGroup, RedisClient) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = try TestStack.redisConfiguration()
        configuration.io = .eventLoops
        return (group, RedisClient(configuration: configuration, eventLoopGroup: group))
    }

    @Test("a caller running on an event loop uses that loop's connection; other callers spread over the loops")
    func callerOnALoopUsesItsConnection() async throws {
        let (group, client) = try twoLoopClient()
        let key = "\(prefix):counter"
        let loop = group.next()
        let onLoop = try await withTaskExecutorPreference(LoopExecutor(loop)) {
            var sawOtherThread = false
            for _ in 0..<50 {
                try await client.send("INCR", key)
                // Resumed on the loop itself: the reply never went through another thread.
                sawOtherThread = sawOtherThread || !loop.inEventLoop
            }
            return sawOtherThread
        }
        #expect(onLoop == false)
        #expect(client.openConnections == 1, "50 commands from one loop used that loop's connection only")
        // From the cooperative pool (no loop), requests go round-robin over both loops' connections.
        for _ in 0..<10 { try await client.send("INCR", key) }
        #expect(client.openConnections == 2)
        #expect(try await client.send("GET", key).int == 60)
        try await client.send("DEL", key)
        await client.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("concurrent requests from both loops and the pool are answered in order, each with its own replies")
    func concurrentCallersGetTheirOwnReplies() async throws {
        let (group, client) = try twoLoopClient()
        let loops = Array(group.makeIterator())
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for caller in 0..<300 {
                tasks.addTask(executorPreference: caller % 3 == 2 ? nil : LoopExecutor(loops[caller % 2])) {
                    let key = "\(prefix):c\(caller)"
                    // Several commands per request, pipelined: each caller must get exactly its own replies.
                    let replies = try await client.pipeline([
                        RedisCommand("SET", key, "\(caller)"), RedisCommand("INCRBY", key, caller), RedisCommand("GET", key), RedisCommand("DEL", key),
                    ])
                    #expect(replies == [.simpleString("OK"), .integer(Int64(2 * caller)), .bulkString(Array("\(2 * caller)".utf8)), .integer(1)])
                }
            }
            try await tasks.waitForAll()
        }
        await client.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("after shutdown, requests fail as shut down")
    func shutdownRefusesRequests() async throws {
        let client = try makeClient(.eventLoops)
        #expect(try await client.send("PING") == .simpleString("PONG"))
        await client.shutdown()
        #expect(client.openConnections == 0)
        await #expect(throws: RedisError.shutDown) { try await client.send("PING") }
    }
}

/// Runs a task's jobs on one event loop, as the inference API's pinned routes do.
final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop
    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}

@Suite("RESP decoder")
struct RESPDecoderTests {
    /// Every reply type, nested arrays, null bulk and null array, an empty bulk, binary bytes and a
    /// negative integer, in one stream.
    static let stream: [UInt8] = Array(
        "+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n$0\r\n\r\n*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n".utf8
    ) + Array("$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n".utf8)
    static let expected: [RedisValue] = [
        .simpleString("OK"), .error("ERR wrong"), .integer(-42), .bulkString(Array("hello".utf8)), .null, .null, .bulkString([]),
        .array([.integer(1), .array([.bulkString([97]), .null]), .simpleString("x")]), .bulkString([0, 13, 10, 255]),
    ]

    @Test("a stream of replies decodes to the same values however it is split into reads")
    func anySplit() throws {
        for split in 0...Self.stream.count {
            var buffer = ByteBuffer()
            var values: [RedisValue] = []
            for part in [Self.stream[..<split], Self.stream[split...]] {
                buffer.writeBytes(part)
                while let value = try RESPDecoder.parse(&buffer) { values.append(value) }
            }
            #expect(values == Self.expected, "split at \(split)")
            #expect(buffer.readableBytes == 0)
        }
        // One byte at a time.
        var buffer = ByteBuffer()
        var values: [RedisValue] = []
        for byte in Self.stream {
            buffer.writeInteger(byte)
            while let value = try RESPDecoder.parse(&buffer) { values.append(value) }
        }
        #expect(values == Self.expected)
    }

    @Test("malformed replies are protocol errors, not crashes", arguments: ["?what\r\n", ":12a\r\n", "$3\r\nabcXY", "*-5\r\n", "$99999999999999999999\r\n", ":\r\n"])
    func malformed(text: String) {
        var buffer = ByteBuffer(string: text)
        #expect(throws: RedisError.self) { _ = try RESPDecoder.parse(&buffer) }
    }

    @Test("nesting deeper than any reply we ask for is refused")
    func deepNesting() {
        var buffer = ByteBuffer(string: String(repeating: "*1\r\n", count: 20) + ":1\r\n")
        #expect(throws: RedisError.self) { _ = try RESPDecoder.parse(&buffer) }
    }
}
