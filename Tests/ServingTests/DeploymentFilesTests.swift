import Features
import Foundation
import Inference
import Ingest
import ServiceSupport
import StackTestSupport
import StreamProcessing
import Testing
import Training

/// The deployment files are not executed here (no Docker engine, no cluster): these checks keep them true
/// to the code.
@Suite("docker-compose.yml, deploy/ and the monitoring configs match the code")
struct DeploymentFilesTests {
    @Test("every shell script in the repository parses (bash -n): a benchmark script is not run by the suite, so a broken one would go unnoticed")
    func shellScriptsParse() throws {
        let root = TestStack.repositoryRoot
        let enumerator = try #require(FileManager.default.enumerator(atPath: root))
        var scripts: [String] = []
        while let path = enumerator.nextObject() as? String {
            if path.hasPrefix(".") || path.contains("/.") { enumerator.skipDescendants(); continue }
            if path.hasSuffix(".sh") || path == ".ci/run" { scripts.append(path) }
        }
        scripts.append(".ci/run")
        #expect(scripts.count > 10, "found \(scripts)")
        for script in scripts {
            let (status, output) = try TestStack.spawnAndWait(["/bin/bash", "-n", root + "/" + script], environment: [:])
            #expect(status == 0, "\(script): \(output)")
        }
    }

    static func text(_ path: String) throws -> String {
        try String(contentsOfFile: TestStack.repositoryRoot + "/" + path, encoding: .utf8)
    }

    static func matches(_ pattern: String, in text: String) throws -> Set<String> {
        let regex = try NSRegularExpression(pattern: pattern)
        return Set(regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } })
    }

    static var deploymentFiles: [String] {
        let root = TestStack.repositoryRoot + "/deploy"
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".yaml") }.map { "deploy/" + $0 }
        return ["docker-compose.yml", "Dockerfile"] + files.sorted()
    }

    @Test("every STREAMREC_* variable in docker-compose.yml, the Dockerfile and deploy/ is a key some service reads")
    func environmentVariablesAreConfigurationKeys() throws {
        let keys = ServiceBootstrap.commonKeys + IngestConfiguration.Keys.all + ProcessorConfiguration.Keys.all + TrainerConfiguration.Keys.all
            + InferenceConfiguration.Keys.all
        var known = Set(keys.map(\.environmentVariable))
        known.insert("STREAMREC_CONFIG_DIR")  // where configs/<service>.conf is read from
        var checked = 0
        for file in Self.deploymentFiles {
            for variable in try Self.matches("STREAMREC_[A-Z0-9_]+", in: try Self.text(file)) {
                let name = variable.hasSuffix("_FILE") && !known.contains(variable) ? String(variable.dropLast(5)) : variable
                let isKey = known.contains(name)
                #expect(isKey, "\(file): \(variable) is not a configuration key of any service")
                checked += 1
            }
        }
        #expect(checked >= 20)
    }

    @Test("every metric the alert rules and the Grafana dashboard use is one the services export")
    func monitoringUsesExportedMetrics() throws {
        // Names in the code: our own metrics, plus Hummingbird's MetricsMiddleware (in the inference API).
        var exported: Set<String> = ["hb_requests", "hb_request_errors", "http_server_request_duration", "http_server_active_requests", "up"]
        let sources = FileManager.default.enumerator(atPath: TestStack.repositoryRoot + "/Shared")?.allObjects as? [String] ?? []
        for source in sources where source.hasSuffix(".swift") {
            exported.formUnion(try Self.matches("streamrec_[a-z_]+", in: try Self.text("Shared/" + source)))
        }
        for file in ["configs/prometheus/alerts.yml", "configs/grafana/dashboards/streamrec.json"] {
            let used = try Self.matches("\\b(streamrec_[a-z_]+|hb_[a-z_]+|http_server_[a-z_]+)\\b", in: try Self.text(file))
            #expect(!used.isEmpty, "\(file) names no metric")
            for metric in used {
                let base = ["_bucket", "_sum", "_count"].reduce(metric) { $0.hasSuffix($1) && !exported.contains($0) ? String($0.dropLast($1.count)) : $0 }
                let isExported = exported.contains(base)
                #expect(isExported, "\(file): \(metric) is not exported by any service")
            }
        }
    }

    @Test("the consumer-lag alert reads the broker-side exporter, which docker-compose, Prometheus and deploy/ run")
    func lagAlertUsesTheBrokerSideExporter() throws {
        let alerts = try Self.text("configs/prometheus/alerts.yml")
        let lagAlert = try #require(alerts.components(separatedBy: "- alert: ").first { $0.hasPrefix("StreamRecConsumerLagGrowing") })
        #expect(lagAlert.contains("kafka_consumergroup_lag"), "\(lagAlert)")
        #expect(try Self.text("docker-compose.yml").contains("danielqsj/kafka-exporter"))
        #expect(try Self.text("configs/prometheus/prometheus.yml").contains("kafka-exporter:9308"))
        #expect(try Self.text("deploy/base/kafka-exporter.yaml").contains("danielqsj/kafka-exporter"))
        #expect(try Self.text("deploy/base/kustomization.yaml").contains("kafka-exporter.yaml"))
    }

    /// The first capture group of every match, in order.
    static func captures(_ pattern: String, in text: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range(at: 1), in: text).map { String(text[$0]) } }
    }

    @Test("replica counts as SeveralInstancesTests runs them: processors at least 2 and at most the partitions, each compose processor with a static id of its own; gateways and APIs (stateless) at least 2 in deploy/")
    func replicaCountsMatchTheSeveralInstancesRun() throws {
        let partitions = try #require(try Self.captures(#"STREAMREC_TOPICS_PARTITIONS: "(\d+)""#, in: try Self.text("deploy/base/config.yaml")).first.flatMap { Int($0) })
        let processors = try #require(try Self.captures(#"replicas: (\d+)"#, in: try Self.text("deploy/base/stream-processor.yaml")).first.flatMap { Int($0) })
        #expect(processors >= 2 && processors <= partitions, "\(processors) processor replicas over \(partitions) partitions")
        for file in ["deploy/base/ingest-gateway.yaml", "deploy/base/inference-api.yaml"] {
            let text = try Self.text(file)
            for key in ["replicas", "minReplicas"] {
                let count = try Self.captures(#"\b"# + key + #": (\d+)"#, in: text).first.flatMap { Int($0) }
                #expect((count ?? 0) >= 2, "\(file): \(key) \(String(describing: count))")
            }
        }
        let compose = try Self.text("docker-compose.yml")
        let composePartitions = try Self.captures(#"STREAMREC_TOPICS_PARTITIONS: "(\d+)""#, in: compose) + Self.captures(#"--topic "\$\$topic" --partitions (\d+)"#, in: compose)
        #expect(composePartitions.count == 2, "the event topics' partitions: \(composePartitions)")
        let smallest = try #require(composePartitions.compactMap { Int($0) }.min())
        let instanceIDs = try Self.captures(#"STREAMREC_KAFKA_GROUP_INSTANCE_ID: (\S+)"#, in: compose)
        #expect(instanceIDs.count >= 2 && instanceIDs.count <= smallest, "\(instanceIDs.count) processors over \(smallest) partitions")
        #expect(Set(instanceIDs).count == instanceIDs.count, "two processors share a group.instance.id (the broker fences one): \(instanceIDs)")
        let scraped = try Self.captures(#"(stream-processor[-0-9]*):8081"#, in: try Self.text("configs/prometheus/prometheus.yml"))
        #expect(scraped.count == instanceIDs.count, "Prometheus scrapes \(scraped), compose runs \(instanceIDs.count) processors")
    }

    @Test("docker-compose.yml is valid for docker-compose (config -q; no engine needed)")
    func composeFileValidates() async throws {
        // docker-compose 1.29 (Debian) predates the top-level `name`: checked without that line.
        let copy = TestStack.repositoryRoot + "/.compose-check-\(UUID().uuidString.prefix(8)).yml"
        try (try Self.text("docker-compose.yml")).split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("name:") }
            .joined(separator: "\n").write(toFile: copy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let log = copy + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let pid = try TestStack.spawnInBackground(["/usr/bin/docker-compose", "-f", copy, "config", "-q"], environment: TestStack.environment, outputPath: log)
        let status = await TestStack.waitForExit(pid, timeout: .seconds(60))
        #expect(status == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}
