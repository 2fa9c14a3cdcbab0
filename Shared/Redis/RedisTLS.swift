import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TLS for Redis connections (a server's `tls-port`), done by swift-nio-ssl on the event-loop connections.
///
/// Only ``RedisConfiguration/IOModel/eventLoops`` can use it: the threads model is hiredis 0.14, built here
/// without `libhiredis_ssl`, so a thread lane refuses to connect rather than send `AUTH` in clear text.
/// The server's certificate is always verified: signed by ``caFile`` (or the system's roots) and naming
/// ``serverName``, or the IP address connected to. (swift-nio-ssl accepts a certificate whose IP entries
/// hold the address connected to even when a name is given: to rely on the name, connect by name to a
/// server whose certificate has no IP entries.)
public struct RedisTLS: Sendable, Hashable {
    /// PEM file of the CAs that signed the server's certificate; `nil`: the system's trust store.
    public var caFile: String?
    /// Client certificate (PEM), for servers that ask for one (`tls-auth-clients yes`, Redis's default).
    public var certificateFile: String?
    /// The client certificate's private key (PEM).
    public var keyFile: String?
    /// The name the server's certificate must carry, also sent as SNI; `nil`: the configured host. When
    /// that is an IP address, the certificate's IP entries are checked instead (and no SNI is sent).
    public var serverName: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
    }

    /// The TLS context every connection of a client shares: files read once, when the client is made.
    func makeContext() throws(RedisError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        do {
            if let caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            switch (certificateFile, keyFile) {
            case (let certificateFile?, let keyFile?):
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            case (nil, nil):
                break
            default:
                throw RedisError.connectionFailed("TLS: a client certificate needs both a certificate file and a key file")
            }
            return try NIOSSLContext(configuration: configuration)
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionFailed("TLS: cannot load the certificates: \(error)")
        }
    }

    /// What the server's certificate is checked against (and SNI), for a connection to `host`.
    func expectedHostname(connectingTo host: String) -> String? {
        let name = serverName ?? host
        return Self.isIPAddress(name) ? nil : name
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
