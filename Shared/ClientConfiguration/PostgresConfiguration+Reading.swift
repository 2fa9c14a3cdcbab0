import ClientRuntime
import Postgres
import ServiceConfiguration

extension PostgresConfiguration {
    public init(reading reader: ConfigReader, applicationName: String) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        let poolSize = try reader.int(K.postgresPoolSize, range: 1...1024)
        self.init(
            host: try reader.string(K.postgresHost),
            port: try reader.int(K.postgresPort, range: 1...65535),
            database: try reader.string(K.postgresDatabase),
            user: try reader.string(K.postgresUser),
            password: try reader.optionalString(K.postgresPassword),
            applicationName: applicationName,
            statementTimeout: try reader.duration(K.postgresStatementTimeout),
            searchPath: try reader.string(K.postgresSchema).isEmpty ? nil : try reader.string(K.postgresSchema),
            pool: ConnectionPoolConfiguration(maximumConnections: poolSize)
        )
    }
}
