import Redis
import ServiceConfiguration

extension RedisConfiguration {
    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        typealias K = ClientConfigKeys
        self.init(
            host: try reader.string(K.redisHost),
            port: try reader.int(K.redisPort, range: 1...65535),
            username: try reader.optionalString(K.redisUsername),
            password: try reader.optionalString(K.redisPassword),
            database: try reader.int(K.redisDatabase, range: 0...1023),
            connectTimeout: try reader.duration(K.redisConnectTimeout),
            commandTimeout: try reader.duration(K.redisCommandTimeout),
            connections: try reader.int(K.redisConnections, range: 1...256),
            laneFill: try reader.int(K.redisLaneFill, range: 0...100_000),
            io: try Self.ioModel(reader.string(K.redisIO)),
            cluster: try reader.bool(K.redisCluster)
        )
    }

    private static func ioModel(_ text: String) throws(ConfigurationError) -> IOModel {
        guard let model = IOModel(rawValue: text) else {
            throw ConfigurationError(key: ClientConfigKeys.redisIO.name, message: "expected threads or event_loops, got \"\(text)\"")
        }
        return model
    }
}
