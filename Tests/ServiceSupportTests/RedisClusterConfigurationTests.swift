import ClientConfiguration
import Redis
import ServiceConfiguration
import Testing

@Suite("redis.cluster")
struct RedisClusterConfigurationTests {
    @Test("off by default; true from the file or the environment turns cluster mode on; anything but a boolean is refused, naming the key")
    func clusterSetting() throws {
        let keys = ClientConfigKeys.redis
        #expect(try RedisConfiguration(reading: ConfigReader(keys: keys, fileValues: [:], environment: [:], source: "t")).cluster == false)
        #expect(ClientConfigKeys.redisCluster.defaultValue == "false")
        let file = try ConfigReader(keys: keys, fileValues: ["redis.cluster": "true"], environment: [:], source: "t.conf")
        #expect(try RedisConfiguration(reading: file).cluster)
        let environment = try ConfigReader(keys: keys, fileValues: ["redis.cluster": "true"], environment: ["STREAMREC_REDIS_CLUSTER": "false"], source: "t.conf")
        #expect(try RedisConfiguration(reading: environment).cluster == false)
        let bad = try ConfigReader(keys: keys, fileValues: [:], environment: ["STREAMREC_REDIS_CLUSTER": "maybe"], source: "t")
        let error = #expect(throws: ConfigurationError.self) { try RedisConfiguration(reading: bad) }
        #expect(error?.key == "redis.cluster")
    }
}
