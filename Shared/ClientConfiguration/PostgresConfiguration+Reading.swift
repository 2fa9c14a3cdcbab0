import ClientRuntime
import Postgres
import ServiceConfiguration

extension PostgresConfiguration {
    public init(reading reader: ConfigReader, applicationName: String) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        let poolSize = try reader.int(K.postgresPoolSize, range: 1...1024)
        let modeName = try reader.string(K.postgresSSLMode)
        guard let sslMode = PostgresSSLMode(rawValue: modeName.lowercased()) else {
            throw ConfigurationError(
                key: K.postgresSSLMode.name, message: "expected one of \(PostgresSSLMode.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(modeName)\"")
        }
        func path(_ key: ConfigKey) throws(ConfigurationError) -> String? {
            let value = try reader.string(key)
            return value.isEmpty ? nil : value
        }
        let rootCertificate = try path(K.postgresSSLRootCertificate)
        let certificate = try path(K.postgresSSLCertificate)
        let key = try path(K.postgresSSLKey)
        if sslMode == .disable {
            for (configKey, value) in [(K.postgresSSLRootCertificate, rootCertificate), (K.postgresSSLCertificate, certificate), (K.postgresSSLKey, key)] where value != nil {
                throw ConfigurationError(key: configKey.name, message: "set, but postgres.sslmode = disable uses no TLS")
            }
        }
        if rootCertificate != nil, !sslMode.verifiesServer {
            // libpq would load it and check nothing: say so rather than let it look protected.
            throw ConfigurationError(
                key: K.postgresSSLRootCertificate.name, message: "only used with postgres.sslmode = verify-ca or verify-full (now \(sslMode.rawValue): the server is not verified)")
        }
        if certificate != nil, key == nil { throw ConfigurationError(key: K.postgresSSLKey.name, message: "required with postgres.ssl_cert") }
        if key != nil, certificate == nil { throw ConfigurationError(key: K.postgresSSLCertificate.name, message: "required with postgres.ssl_key") }
        self.init(
            host: try reader.string(K.postgresHost),
            port: try reader.int(K.postgresPort, range: 1...65535),
            database: try reader.string(K.postgresDatabase),
            user: try reader.string(K.postgresUser),
            password: try reader.optionalString(K.postgresPassword),
            applicationName: applicationName,
            statementTimeout: try reader.duration(K.postgresStatementTimeout),
            searchPath: try reader.string(K.postgresSchema).isEmpty ? nil : try reader.string(K.postgresSchema),
            pool: ConnectionPoolConfiguration(maximumConnections: poolSize),
            sslMode: sslMode, sslRootCertificate: rootCertificate, sslCertificate: certificate, sslKey: key
        )
    }
}
