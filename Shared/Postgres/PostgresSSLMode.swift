/// libpq's `sslmode`: whether the connection uses TLS and how much of the server's certificate it checks.
/// Only `verify-full` protects against someone in the middle: it checks that a trusted CA signed the
/// server's certificate (``PostgresConfiguration/sslRootCertificate``) and that the certificate names the
/// host connected to.
public enum PostgresSSLMode: String, Sendable, Hashable, CaseIterable {
    /// No TLS.
    case disable
    /// TLS only if the server insists.
    case allow
    /// TLS if the server offers it, else plaintext (libpq's default): no protection against an attacker.
    case prefer
    /// TLS, server certificate not checked.
    case require
    /// TLS, certificate signed by a trusted CA; host name not checked.
    case verifyCA = "verify-ca"
    /// TLS, certificate signed by a trusted CA and naming the host.
    case verifyFull = "verify-full"

    /// Whether a root certificate is used (libpq reads `sslrootcert` only to verify the server).
    public var verifiesServer: Bool { self == .verifyCA || self == .verifyFull }
}
