import ServiceSupport
import Testing

@Suite("streamrec_build_info on every service's registry; gauges that stop being exported")
struct OperationalMetricsTests {
    @Test("ServiceMetrics exports streamrec_build_info{version,revision} = 1, the revision stamped at build time")
    func buildInfo() {
        let metrics = ServiceMetrics()
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix("streamrec_build_info{") }
        #expect(line != nil, "\(text)")
        #expect(line?.contains("version=\"\(BuildInfo.version)\"") == true, "\(line ?? "")")
        #expect(line?.contains("revision=\"\(BuildInfo.revision)\"") == true, "\(line ?? "")")
        #expect(line?.hasSuffix(" 1") == true || line?.hasSuffix(" 1.0") == true, "\(line ?? "")")
        #expect(!BuildInfo.revision.isEmpty)
    }

    @Test("a destroyed gauge leaves the exposition (a revoked partition's lag is not kept frozen), and asking again makes a fresh one")
    func destroyedGaugeIsNotExported() {
        let metrics = ServiceMetrics()
        let cache = MetricCache()
        let mine = [("consumergroup", "g"), ("topic", "t"), ("partition", "0")]
        let kept = [("consumergroup", "g"), ("topic", "t"), ("partition", "1")]
        cache.gauge("streamrec_processor_lag_records", mine, factory: metrics.factory).record(42)
        cache.gauge("streamrec_processor_lag_records", kept, factory: metrics.factory).record(7)
        func exported() -> [Substring] {
            String(decoding: metrics.exposition(), as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("streamrec_processor_lag_records{") }
        }
        #expect(exported().count == 2)
        cache.destroyGauge("streamrec_processor_lag_records", mine)
        #expect(exported().count == 1)
        #expect(exported().first?.contains("partition=\"1\"") == true, "\(exported())")
        cache.gauge("streamrec_processor_lag_records", mine, factory: metrics.factory).record(3)
        #expect(exported().count == 2)
    }
}
