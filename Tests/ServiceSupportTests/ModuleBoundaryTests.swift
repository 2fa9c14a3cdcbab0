import Foundation
import StackTestSupport
import Testing

/// The module graph's rules (docs/architecture.md), checked on the sources' import lines: the live path
/// (gateway, processor, API and what they are built from) never depends on training code, and the pure
/// cores never depend on clients, servers or I/O.
@Suite("Module boundaries")
struct ModuleBoundaryTests {
    /// Module (a folder of Shared/ or Services/) → the modules its files import.
    static func imports() -> [String: Set<String>] {
        var graph: [String: Set<String>] = [:]
        for root in ["Shared", "Services"] {
            let base = TestStack.repositoryRoot + "/" + root
            let files = FileManager.default.enumerator(atPath: base)?.allObjects as? [String] ?? []
            for file in files where file.hasSuffix(".swift") {
                let module = String(file.split(separator: "/")[0])
                let text = (try? String(contentsOfFile: base + "/" + file, encoding: .utf8)) ?? ""
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ")
                    // `import X`, `@testable import X`, `@_exported import X`, `import struct X.Y`.
                    guard let index = words.firstIndex(of: "import"), index + 1 < words.count, words[..<index].allSatisfy({ $0.hasPrefix("@") }) else { continue }
                    let target = words.count > index + 2 && ["struct", "class", "enum", "protocol", "func"].contains(words[index + 1]) ? words[index + 2] : words[index + 1]
                    graph[module, default: []].insert(String(target.split(separator: ".")[0]))
                }
            }
        }
        return graph
    }

    /// What a module may use, followed through the modules it imports.
    static func reachable(from module: String, in graph: [String: Set<String>]) -> Set<String> {
        var seen: Set<String> = []
        var stack = [module]
        while let next = stack.popLast() {
            for imported in graph[next] ?? [] where seen.insert(imported).inserted { stack.append(imported) }
        }
        return seen
    }

    @Test("the live path (gateway, processor, API) reaches no training, trainer command-line, dataset or load-generation code")
    func livePathHasNoTrainingCode() {
        let graph = Self.imports()
        #expect(graph["Training"] != nil && graph["Inference"] != nil && graph["TrainerCommands"] != nil, "the scan found the modules")
        let livePath = ["IngestGateway", "StreamProcessor", "InferenceAPI", "Ingest", "StreamProcessing", "Serving", "Inference", "Features", "EventStore", "ModelRegistry"]
        for module in livePath {
            let forbidden = Self.reachable(from: module, in: graph).intersection(["Training", "TrainerCommands", "Datasets", "LoadGeneration", "SyntheticData"])
            #expect(forbidden.isEmpty, "\(module) reaches \(forbidden.sorted())")
        }
    }

    @Test("the pure cores (Events, Recommender, ModelStore, Datasets, Experiments) import no client, server or service module")
    func coresAreIOFree() {
        let graph = Self.imports()
        let clients: Set<String> = [
            "Kafka", "Redis", "Postgres", "ClientRuntime", "ServiceSupport", "HTTPSupport", "ClientConfiguration", "Features", "EventStore", "ModelRegistry",
            "Hummingbird", "HummingbirdCore",
            "NIOCore", "NIOPosix", "FoundationNetworking", "CRdKafka", "CHiredis", "CLibPQ", "Logging", "Metrics",
        ]
        for core in ["Events", "Recommender", "ModelStore", "Datasets", "Experiments"] {
            #expect(graph[core] != nil, "no sources found for \(core)")
            let forbidden = Self.reachable(from: core, in: graph).intersection(clients)
            #expect(forbidden.isEmpty, "\(core) reaches \(forbidden.sorted())")
        }
    }

    @Test("the configuration module imports nothing but Foundation")
    func configurationIsDependencyFree() {
        let graph = Self.imports()
        #expect(graph["ServiceConfiguration"] != nil, "no sources found for ServiceConfiguration")
        let imported = (graph["ServiceConfiguration"] ?? []).subtracting(["Foundation"])
        #expect(imported.isEmpty, "ServiceConfiguration imports \(imported.sorted())")
    }

    @Test("the HTTP layer (HTTPSupport) reaches no client: no Kafka, Redis or PostgreSQL")
    func httpSupportHasNoClients() {
        let graph = Self.imports()
        #expect(graph["HTTPSupport"] != nil, "no sources found for HTTPSupport")
        let forbidden = Self.reachable(from: "HTTPSupport", in: graph)
            .intersection(["Kafka", "Redis", "Postgres", "CRdKafka", "CHiredis", "CLibPQ", "ServiceSupport", "ClientConfiguration"])
        #expect(forbidden.isEmpty, "HTTPSupport reaches \(forbidden.sorted())")
    }

    @Test("tracing: only ServiceSupport imports the exporter (OTel); the clients, the cores and the domain libraries know no tracing")
    func tracingStaysInTheServiceLayer() {
        let graph = Self.imports()
        let exporterUsers = graph.filter { $0.value.contains("OTel") }.keys.sorted()
        #expect(exporterUsers == ["ServiceSupport"], "OTel is imported by \(exporterUsers)")
        for module in ["Kafka", "Redis", "Postgres", "ClientRuntime", "Events", "Recommender", "ModelStore", "Datasets", "Features", "EventStore", "ModelRegistry", "Training"] {
            #expect(graph[module] != nil, "no sources found for \(module)")
            let forbidden = Self.reachable(from: module, in: graph).intersection(["Tracing", "Instrumentation", "ServiceContextModule", "OTel"])
            #expect(forbidden.isEmpty, "\(module) reaches \(forbidden.sorted())")
        }
    }

    @Test("the domain libraries (Features, Outcomes, Training, ModelRegistry, EventStore) reach no service wiring or HTTP server")
    func domainLibrariesHaveNoServiceWiring() {
        let graph = Self.imports()
        for module in ["Features", "Outcomes", "Training", "ModelRegistry", "EventStore"] {
            #expect(graph[module] != nil, "no sources found for \(module)")
            let forbidden = Self.reachable(from: module, in: graph)
                .intersection(["ServiceSupport", "HTTPSupport", "Hummingbird", "HummingbirdCore", "Prometheus"])
            #expect(forbidden.isEmpty, "\(module) reaches \(forbidden.sorted())")
        }
    }
}
