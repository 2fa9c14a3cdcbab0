import NIOPosix
import Redis
import StackTestSupport
import Testing

/// `AUTH username password` with the local stack's ACL users (scripts/stack.sh), in both I/O models.
@Suite("Redis ACL users")
struct RedisACLTests {
    static func configuration(_ io: RedisConfiguration.IOModel, user: String, password: String) throws -> RedisConfiguration {
        var configuration = try TestStack.redisConfiguration()
        configuration.io = io
        configuration.username = user
        configuration.password = password
        configuration.reconnectBackoff = .init(initial: .milliseconds(10), maximum: .milliseconds(10))
        return configuration
    }

    static var stackPassword: String { TestStack.environment["STREAMREC_POSTGRES_PASSWORD"] ?? "streamrec" }

    @Test("every connection authenticates as the configured user; a wrong password or unknown user fails the connect", arguments: RedisConfiguration.IOModel.allCases)
    func authenticatesAsTheUser(_ io: RedisConfiguration.IOModel) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { Task { try? await group.shutdownGracefully() } }
        var configuration = try Self.configuration(io, user: "streamrec_processor", password: Self.stackPassword)
        configuration.connections = 2
        let client = RedisClient(configuration: configuration, eventLoopGroup: group)
        // Enough concurrent requests to open every connection: each must have authenticated as the user,
        // whose ACL allows keys under sr: only (the default user may write anywhere).
        let outcomes = await withTaskGroup(of: String.self) { tasks in
            for _ in 0..<40 {
                tasks.addTask {
                    do {
                        try await client.send("SET", TestStack.uniqueName("acl"), "x")
                        return "written"
                    } catch {
                        return (error as? RedisError)?.serverErrorCode ?? "\(error)"
                    }
                }
            }
            var outcomes: Set<String> = []
            for await outcome in tasks { outcomes.insert(outcome) }
            return outcomes
        }
        #expect(outcomes == ["NOPERM"])
        let inside = "sr:\(TestStack.uniqueName("acl"))"
        #expect(try await client.send("SET", inside, "x") == .simpleString("OK"))
        try await client.send("DEL", inside)
        await client.shutdown()

        for (user, password) in [("streamrec_processor", "not the password"), ("no_such_user", Self.stackPassword)] {
            let refused = RedisClient(configuration: try Self.configuration(io, user: user, password: password), eventLoopGroup: group)
            let error = await #expect(throws: RedisError.self) { try await refused.send("PING") }
            guard case .connectionFailed(let reason)? = error else { Issue.record("\(io) \(user): expected connectionFailed, got \(String(describing: error))"); continue }
            #expect(reason.contains("WRONGPASS"), "\(io) \(user): \(reason)")
            #expect(!reason.contains(password) || password == Self.stackPassword, "the password is not echoed")
            await refused.shutdown()
        }
    }
}
