import Foundation
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
        tls = try Self.tls(reader, host: host, io: io)
        if password == nil, username != nil {
            // AUTH needs the password; a user alone would silently connect as the default user.
            throw ConfigurationError(key: K.redisPassword.name, message: "required with redis.username (AUTH username password)")
        }
    }

    private static func tls(_ reader: ConfigReader, host: String, io: IOModel) throws(ConfigurationError) -> RedisTLS? {
        typealias K = ClientConfigKeys
        func path(_ key: ConfigKey) throws(ConfigurationError) -> String? {
            let value = try reader.string(key)
            return value.isEmpty ? nil : value
        }
        let settings = RedisTLS(
            caFile: try path(K.redisTLSCAFile), certificateFile: try path(K.redisTLSCertificateFile), keyFile: try path(K.redisTLSKeyFile),
            serverName: try path(K.redisTLSServerName)
        )
        guard try reader.bool(K.redisTLS) else {
            for key in [K.redisTLSCAFile, K.redisTLSCertificateFile, K.redisTLSKeyFile, K.redisTLSServerName] where try path(key) != nil {
                throw ConfigurationError(key: key.name, message: "set, but redis.tls is false: the connection would not use it")
            }
            return nil
        }
        guard io == .eventLoops else {
            throw ConfigurationError(
                key: K.redisTLS.name,
                message: "needs redis.io = event_loops: the threads model is hiredis 0.14, which has no TLS in this build (no libhiredis_ssl)")
        }
        if settings.certificateFile != nil, settings.keyFile == nil {
            throw ConfigurationError(key: K.redisTLSKeyFile.name, message: "required with redis.tls_cert_file")
        }
        if settings.keyFile != nil, settings.certificateFile == nil {
            throw ConfigurationError(key: K.redisTLSCertificateFile.name, message: "required with redis.tls_key_file")
        }
        for (key, file) in [(K.redisTLSCAFile, settings.caFile), (K.redisTLSCertificateFile, settings.certificateFile), (K.redisTLSKeyFile, settings.keyFile)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw ConfigurationError(key: key.name, message: "cannot read \(file)")
            }
        }
        return settings
    }

    private static func ioModel(_ text: String) throws(ConfigurationError) -> IOModel {
        guard let model = IOModel(rawValue: text) else {
            throw ConfigurationError(key: ClientConfigKeys.redisIO.name, message: "expected threads or event_loops, got \"\(text)\"")
        }
        return model
    }
}
