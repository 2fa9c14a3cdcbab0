import Kafka
import ServiceConfiguration

extension KafkaSecurity {
    /// `kafka.security_protocol` and the SASL and TLS keys beside it, validated: a combination that cannot
    /// mean what it says (a CA file without TLS, SASL without credentials) names the key to change.
    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        let protocolName = try reader.string(K.kafkaSecurityProtocol)
        guard let securityProtocol = SecurityProtocol(rawValue: protocolName.lowercased()) else {
            throw ConfigurationError(
                key: K.kafkaSecurityProtocol.name, message: "expected one of \(SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(protocolName)\"")
        }
        let mechanismName = try reader.string(K.kafkaSASLMechanism)
        var mechanism: SASLMechanism?
        if !mechanismName.isEmpty {
            guard let known = SASLMechanism(rawValue: mechanismName.uppercased()) else {
                throw ConfigurationError(
                    key: K.kafkaSASLMechanism.name, message: "expected one of \(SASLMechanism.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(mechanismName)\"")
            }
            mechanism = known
        }
        let username = try reader.string(K.kafkaSASLUsername)
        let password = try reader.optionalString(K.kafkaSASLPassword) ?? ""
        let credentials = username.isEmpty && password.isEmpty ? nil : SASLCredentials(username: username, password: password)
        func path(_ key: ConfigKey) throws(ConfigurationError) -> String? {
            let value = try reader.string(key)
            return value.isEmpty ? nil : value
        }
        self.init(
            securityProtocol: securityProtocol, saslMechanism: mechanism, saslCredentials: credentials,
            caFile: try path(K.kafkaSSLCAFile), certificateFile: try path(K.kafkaSSLCertificateFile), keyFile: try path(K.kafkaSSLKeyFile),
            keyPassword: try reader.optionalString(K.kafkaSSLKeyPassword).flatMap { $0.isEmpty ? nil : $0 },
            verifyHostname: try reader.bool(K.kafkaSSLVerifyHostname)
        )
        do {
            try validate()
        } catch {
            throw ConfigurationError(key: Self.key(for: error.field).name, message: error.message)
        }
    }

    private static func key(for field: Problem.Field) -> ConfigKey {
        typealias K = ClientConfigKeys
        switch field {
        case .securityProtocol: return K.kafkaSecurityProtocol
        case .saslMechanism: return K.kafkaSASLMechanism
        case .saslUsername: return K.kafkaSASLUsername
        case .saslPassword: return K.kafkaSASLPassword
        case .caFile: return K.kafkaSSLCAFile
        case .certificateFile: return K.kafkaSSLCertificateFile
        case .keyFile: return K.kafkaSSLKeyFile
        case .keyPassword: return K.kafkaSSLKeyPassword
        }
    }
}
