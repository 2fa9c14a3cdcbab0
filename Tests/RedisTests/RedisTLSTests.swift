import NIOPosix
import Redis
import StackTestSupport
import Testing

/// Redis over TLS on loopback: a private redis-server with a TLS listener and a throw-away CA's certificate.
/// Only the event-loop I/O model has TLS (swift-nio-ssl); the threads model (hiredis 0.14, no
/// libhiredis_ssl here) refuses to connect rather than talk in clear text.
@Suite("Redis over TLS", .serialized)
struct RedisTLSTests {
    static func tlsConfiguration(_ server: PrivateRedis, _ tls: RedisTLS) throws -> RedisConfiguration {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: try #require(server.tlsPort), connectTimeout: .seconds(2), io: .eventLoops, tls: tls)
        configuration.reconnectBackoff = .init(initial: .milliseconds(10), maximum: .milliseconds(10))
        return configuration
    }

    /// The connect error a client reports for its first command.
    static func connectError(_ configuration: RedisConfiguration) async -> RedisError? {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = RedisClient(configuration: configuration, eventLoopGroup: group)
        defer { Task { try? await group.shutdownGracefully() } }
        do {
            try await client.send("PING")
            await client.shutdown()
            return nil
        } catch {
            await client.shutdown()
            return error
        }
    }

    @Test("event loops: the server's CA verifies it (by IP or by name, with or without a client certificate); another CA, plaintext or a missing CA file is refused")
    func eventLoops() async throws {
        let authority = try await offThePool { try TestCertificateAuthority() }
        let stranger = try await offThePool { try TestCertificateAuthority(name: "Someone else's CA") }
        defer {
            authority.remove()
            stranger.remove()
        }
        let server = try await offThePool { try PrivateRedis(tls: authority) }
        defer { try? server.remove() }

        // By IP address (checked against the certificate's IP entry), then with a client certificate, then
        // by the certificate's DNS name.
        for tls in [
            RedisTLS(caFile: authority.caFile),
            RedisTLS(caFile: authority.caFile, certificateFile: authority.clientCertificateFile, keyFile: authority.clientKeyFile),
            RedisTLS(caFile: authority.caFile, serverName: "localhost"),
        ] {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let client = RedisClient(configuration: try Self.tlsConfiguration(server, tls), eventLoopGroup: group)
            let key = TestStack.uniqueName("tls")
            #expect(try await client.send("SET", key, "over tls") == .simpleString("OK"))
            #expect(try await client.send("GET", key).string == "over tls")
            // Pipelines and transactions go through the same TLS connection.
            let replies = try await client.pipeline((0..<1000).map { _ in RedisCommand("INCR", "\(key):n") })
            #expect(replies.last == .integer(1000))
            try await client.send("DEL", key, "\(key):n")
            await client.shutdown()
            try await group.shutdownGracefully()
        }

        // A certificate no trusted CA signed: the connect fails (retriable) and says why.
        let wrongCA = await Self.connectError(try Self.tlsConfiguration(server, RedisTLS(caFile: stranger.caFile)))
        guard case .connectionFailed(let reason) = wrongCA else { Issue.record("expected connectionFailed, got \(String(describing: wrongCA))"); return }
        #expect(reason.contains("TLS handshake failed") && reason.uppercased().contains("CERTIFICATE_VERIFY_FAILED"), "\(reason)")

        // (A name the certificate does not carry is not refused here: swift-nio-ssl also accepts a certificate
        // whose IP entries hold the address connected to, and this one has 127.0.0.1. Documented in RedisTLS.)

        // TLS to the plain port: no handshake, a failed connect (not a hang).
        var plain = try Self.tlsConfiguration(server, RedisTLS(caFile: authority.caFile))
        plain.port = server.port
        let plainError = await Self.connectError(plain)
        guard case .connectionFailed = plainError else { Issue.record("expected connectionFailed, got \(String(describing: plainError))"); return }

        // A CA file that does not exist: every connect fails, naming it.
        let missing = await Self.connectError(try Self.tlsConfiguration(server, RedisTLS(caFile: authority.directory + "/none.pem")))
        guard case .connectionFailed(let missingReason) = missing else { Issue.record("expected connectionFailed, got \(String(describing: missing))"); return }
        #expect(missingReason.contains("cannot load the certificates"), "\(missingReason)")
    }

    @Test("event loops over TLS: AUTH with an ACL user and password works; a wrong password is refused")
    func aclUserOverTLS() async throws {
        let authority = try await offThePool { try TestCertificateAuthority() }
        defer { authority.remove() }
        let server = try await offThePool { try PrivateRedis(tls: authority) }
        defer { try? server.remove() }
        var configuration = try Self.tlsConfiguration(server, RedisTLS(caFile: authority.caFile))
        configuration.username = "streamrec_api"
        configuration.password = try #require(TestStack.environment["STREAMREC_POSTGRES_PASSWORD"] ?? "streamrec")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = RedisClient(configuration: configuration, eventLoopGroup: group)
        // The API's user reads feature keys and may not write them: the default user could.
        #expect(try await client.send("GET", "sr:\(TestStack.uniqueName("tls-acl"))") == .null)
        let write = await #expect(throws: RedisError.self) { try await client.send("SET", "sr:\(TestStack.uniqueName("tls-acl"))", "x") }
        #expect(write?.serverErrorCode == "NOPERM")
        await client.shutdown()
        try await group.shutdownGracefully()
        configuration.password = "not the password"
        let refused = await Self.connectError(configuration)
        guard case .connectionFailed(let reason) = refused else { Issue.record("expected connectionFailed, got \(String(describing: refused))"); return }
        #expect(reason.contains("WRONGPASS"), "\(reason)")
    }

    @Test("threads (hiredis, no TLS in this build): a TLS configuration is refused at connect, nothing sent in clear text")
    func threadsRefuseTLS() async throws {
        var configuration = try TestStack.redisConfiguration()
        configuration.tls = RedisTLS()
        configuration.password = "would-be-sent-in-clear-text"
        let client = RedisClient(configuration: configuration)
        let error = await #expect(throws: RedisError.self) { try await client.send("PING") }
        guard case .connectionFailed(let reason)? = error else { Issue.record("expected connectionFailed, got \(String(describing: error))"); return }
        #expect(reason.contains("event_loops"), "\(reason)")
        await client.shutdown()
    }
}
