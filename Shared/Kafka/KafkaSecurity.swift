#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a client authenticates to the brokers and encrypts its traffic: librdkafka's `security.protocol`,
/// `sasl.*` and `ssl.*` properties. Producers, consumers and admin clients of one service share it.
///
/// The default is `plaintext` with nothing else set: the local broker's setting. ``validate()`` refuses
/// combinations that would silently not do what they say (a CA file with `sasl_plaintext`, SASL without a
/// mechanism or credentials, half a client certificate), so a mistake stops the service at start instead of
/// connecting without TLS or failing later in a broker thread.
public struct KafkaSecurity: Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's `security.protocol`.
    public enum SecurityProtocol: String, Sendable, Hashable, CaseIterable {
        case plaintext
        case ssl
        case saslPlaintext = "sasl_plaintext"
        case saslSSL = "sasl_ssl"

        public var usesTLS: Bool { self == .ssl || self == .saslSSL }
        public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
    }

    /// The SASL mechanisms this client offers (`sasl.mechanisms`). GSSAPI (Kerberos) and OAUTHBEARER need
    /// more than a user name and password, so they are not offered here.
    public enum SASLMechanism: String, Sendable, Hashable, CaseIterable {
        case plain = "PLAIN"
        case scramSHA256 = "SCRAM-SHA-256"
        case scramSHA512 = "SCRAM-SHA-512"
    }

    /// A SASL user and password. The password never appears in `description` (logs, errors).
    public struct SASLCredentials: Sendable, Hashable, CustomStringConvertible {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }

        public var description: String { "SASLCredentials(username: \(username), password: <hidden>)" }
    }

    /// What is wrong with a combination, and which setting to change.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Field: Sendable, Hashable {
            case securityProtocol, saslMechanism, saslUsername, saslPassword, caFile, certificateFile, keyFile, keyPassword
        }

        public let field: Field
        public let message: String

        public var description: String { message }
    }

    public var securityProtocol: SecurityProtocol
    /// Required with `sasl_plaintext` and `sasl_ssl`; refused otherwise.
    public var saslMechanism: SASLMechanism?
    /// Required with `sasl_plaintext` and `sasl_ssl`; refused otherwise.
    public var saslCredentials: SASLCredentials?
    /// PEM file of the certificate authorities that signed the brokers' certificates (`ssl.ca.location`);
    /// `nil`: the system's trust store. Only with `ssl` and `sasl_ssl`.
    public var caFile: String?
    /// The client's certificate (PEM, `ssl.certificate.location`), for brokers that require client
    /// certificates (`ssl.client.auth=required`). Needs ``keyFile``.
    public var certificateFile: String?
    /// The client certificate's private key (PEM, `ssl.key.location`). Needs ``certificateFile``.
    public var keyFile: String?
    /// Passphrase of an encrypted ``keyFile`` (`ssl.key.password`).
    public var keyPassword: String?
    /// Checks that the broker's certificate names the host connected to
    /// (`ssl.endpoint.identification.algorithm = https`). Turn off only for brokers whose certificates do
    /// not carry their addresses, and know that any certificate of the CA is then accepted for any broker.
    public var verifyHostname: Bool

    public init(
        securityProtocol: SecurityProtocol = .plaintext,
        saslMechanism: SASLMechanism? = nil,
        saslCredentials: SASLCredentials? = nil,
        caFile: String? = nil,
        certificateFile: String? = nil,
        keyFile: String? = nil,
        keyPassword: String? = nil,
        verifyHostname: Bool = true
    ) {
        self.securityProtocol = securityProtocol
        self.saslMechanism = saslMechanism
        self.saslCredentials = saslCredentials
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.keyPassword = keyPassword
        self.verifyHostname = verifyHostname
    }

    /// Everything but the secrets (the SASL password is hidden by ``SASLCredentials``, the key passphrase here).
    public var description: String {
        var parts = ["protocol: \(securityProtocol.rawValue)"]
        if let saslMechanism { parts.append("mechanism: \(saslMechanism.rawValue)") }
        if let saslCredentials { parts.append("user: \(saslCredentials.username)") }
        if let caFile { parts.append("ca: \(caFile)") }
        if let certificateFile { parts.append("certificate: \(certificateFile)") }
        if let keyFile { parts.append("key: \(keyFile)") }
        if keyPassword != nil { parts.append("key password: <hidden>") }
        if !verifyHostname { parts.append("hostname not verified") }
        return "KafkaSecurity(\(parts.joined(separator: ", ")))"
    }

    /// No TLS, no SASL.
    public static let plaintext = KafkaSecurity()

    /// Refuses combinations that cannot mean what they say. Called by every client before librdkafka sees
    /// the properties, and by the configuration reader (which names the key).
    public func validate() throws(Problem) {
        let name = securityProtocol.rawValue
        if securityProtocol.usesSASL {
            guard let saslMechanism else {
                throw Problem(field: .saslMechanism, message: "required with security protocol \(name): one of \(SASLMechanism.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let saslCredentials, !saslCredentials.username.isEmpty else {
                throw Problem(field: .saslUsername, message: "required with security protocol \(name)")
            }
            guard !saslCredentials.password.isEmpty else {
                throw Problem(field: .saslPassword, message: "required with security protocol \(name)")
            }
            if saslMechanism == .plain, securityProtocol == .saslPlaintext {
                // PLAIN sends the password itself; without TLS anyone on the path reads it.
                throw Problem(
                    field: .saslMechanism,
                    message: "PLAIN over sasl_plaintext sends the password in clear text; use sasl_ssl, or a SCRAM mechanism"
                )
            }
        } else {
            if saslMechanism != nil {
                throw Problem(field: .saslMechanism, message: "set, but security protocol \(name) does not use SASL (use sasl_plaintext or sasl_ssl)")
            }
            if let saslCredentials {
                let field: Problem.Field = saslCredentials.username.isEmpty ? .saslPassword : .saslUsername
                throw Problem(field: field, message: "set, but security protocol \(name) does not use SASL (use sasl_plaintext or sasl_ssl)")
            }
        }
        let files: [(Problem.Field, String?)] = [(.caFile, caFile), (.certificateFile, certificateFile), (.keyFile, keyFile)]
        if !securityProtocol.usesTLS {
            for (field, path) in files where path != nil {
                throw Problem(field: field, message: "set, but security protocol \(name) does not use TLS (use ssl or sasl_ssl)")
            }
            if keyPassword != nil { throw Problem(field: .keyPassword, message: "set, but security protocol \(name) does not use TLS (use ssl or sasl_ssl)") }
        }
        if certificateFile != nil, keyFile == nil { throw Problem(field: .keyFile, message: "required with a client certificate") }
        if keyFile != nil, certificateFile == nil { throw Problem(field: .certificateFile, message: "required with a client key") }
        if keyPassword != nil, keyFile == nil { throw Problem(field: .keyPassword, message: "set, but there is no client key") }
        for (field, path) in files {
            guard let path else { continue }
            // librdkafka reads them when the client is created; a missing file is clearer named here.
            if access(path, R_OK) != 0 { throw Problem(field: field, message: "cannot read \(path)") }
        }
    }

    /// The librdkafka properties for this setting (merged into the client's own before its
    /// `additionalProperties`). Holds the SASL password: never log it.
    public var properties: [String: String] {
        var properties = ["security.protocol": securityProtocol.rawValue]
        if securityProtocol.usesSASL {
            if let saslMechanism { properties["sasl.mechanisms"] = saslMechanism.rawValue }
            if let saslCredentials {
                properties["sasl.username"] = saslCredentials.username
                properties["sasl.password"] = saslCredentials.password
            }
        }
        if securityProtocol.usesTLS {
            if let caFile { properties["ssl.ca.location"] = caFile }
            if let certificateFile { properties["ssl.certificate.location"] = certificateFile }
            if let keyFile { properties["ssl.key.location"] = keyFile }
            if let keyPassword { properties["ssl.key.password"] = keyPassword }
            properties["ssl.endpoint.identification.algorithm"] = verifyHostname ? "https" : "none"
        }
        return properties
    }
}
