import Foundation
import Postgres
import StackTestSupport
import Testing

/// PostgreSQL over TLS on loopback: a private server with `ssl=on` and a throw-away CA's certificate.
@Suite("PostgreSQL over TLS (sslmode, sslrootcert)", .serialized)
struct PostgresTLSTests {
    @Test("verify-full with the server's CA connects encrypted; another CA is refused with the reason; require does not verify")
    func verifyFull() async throws {
        let authority = try await offThePool { try TestCertificateAuthority() }
        let stranger = try await offThePool { try TestCertificateAuthority(name: "Someone else's CA") }
        defer {
            authority.remove()
            stranger.remove()
        }
        let server = try await offThePool { try PrivatePostgres(tls: authority) }
        defer { try? server.remove() }

        var configuration = server.configuration
        configuration.sslMode = .verifyFull
        configuration.sslRootCertificate = authority.caFile
        let client = PostgresClient(configuration: configuration)
        let row = try await client.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0]
        #expect(try row.decode("ssl", as: Bool.self))
        #expect(try row.decode("version", as: String.self).hasPrefix("TLS"))
        await client.shutdown()

        // The name checked is the host connected to: "localhost" is in the certificate too.
        configuration.host = "localhost"
        _ = try PostgresConnection(configuration: configuration)

        // A certificate from a CA the client does not trust: no connection, and the error says why.
        var wrongCA = server.configuration
        wrongCA.sslMode = .verifyFull
        wrongCA.sslRootCertificate = stranger.caFile
        let refused = #expect(throws: PostgresError.self) { try PostgresConnection(configuration: wrongCA) }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("certificate verify failed"), "\(String(describing: refused))")
        wrongCA.sslMode = .verifyCA
        #expect(throws: PostgresError.self) { try PostgresConnection(configuration: wrongCA) }

        // `require` encrypts but checks nothing (hence verify-full in production): the wrong CA is not noticed.
        wrongCA.sslMode = .require
        wrongCA.sslRootCertificate = nil
        _ = try PostgresConnection(configuration: wrongCA)

        // A root certificate file that does not exist: libpq refuses to go on without it.
        var missing = server.configuration
        missing.sslMode = .verifyFull
        missing.sslRootCertificate = authority.directory + "/no-such-ca.pem"
        #expect(throws: PostgresError.self) { try PostgresConnection(configuration: missing) }
    }

    @Test("sslmode=require against a server without TLS is refused; prefer falls back to plaintext")
    func serverWithoutTLS() async throws {
        var configuration = try TestStack.postgresConfiguration()
        configuration.sslMode = .require
        let refused = #expect(throws: PostgresError.self) { try PostgresConnection(configuration: configuration) }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("SSL"), "\(String(describing: refused))")
        configuration.sslMode = .prefer
        let client = PostgresClient(configuration: configuration)
        #expect(try await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].decode("ssl", as: Bool.self) == false)
        await client.shutdown()
    }
}
