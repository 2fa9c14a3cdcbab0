import ServiceConfiguration
import ServiceSupport
import Testing

@Suite("Tracing settings")
struct TracingSettingsTests {
    static func read(_ environment: [String: String]) throws(ConfigurationError) -> TracingSettings {
        try TracingSettings(reading: ConfigReader(keys: TracingSettings.Keys.all, fileValues: [:], environment: environment, source: "test"), serviceName: "svc")
    }

    @Test("off by default, with the documented endpoint and ratio; no tracer while off")
    func defaults() throws {
        let settings = try Self.read([:])
        #expect(settings == TracingSettings(enabled: false, otlpEndpoint: "http://127.0.0.1:4318/v1/traces", samplingRatio: 1.0, serviceName: "svc"))
        #expect(TracingBootstrap.tracer(settings) == nil)
    }

    @Test("values from the environment; a ratio outside 0...1 and an endpoint without http(s) are refused, naming the key")
    func validation() throws {
        let settings = try Self.read([
            "STREAMREC_TRACING_ENABLED": "true", "STREAMREC_TRACING_OTLP_ENDPOINT": "https://collector:4318/v1/traces", "STREAMREC_TRACING_SAMPLING_RATIO": "0.25",
        ])
        #expect(settings.enabled && settings.otlpEndpoint == "https://collector:4318/v1/traces" && settings.samplingRatio == 0.25)
        #expect(throws: ConfigurationError.self) { try Self.read(["STREAMREC_TRACING_SAMPLING_RATIO": "1.5"]) }
        #expect(throws: ConfigurationError.self) { try Self.read(["STREAMREC_TRACING_OTLP_ENDPOINT": "collector:4318"]) }
        do {
            _ = try Self.read(["STREAMREC_TRACING_SAMPLING_RATIO": "-0.1"])
            Issue.record("a negative ratio was accepted")
        } catch {
            #expect(error.key == "tracing.sampling_ratio")
        }
    }
}
