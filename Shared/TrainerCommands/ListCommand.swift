import ArgumentParser
import Foundation

/// `trainer list`: the registry, one tab-separated line per version (domain, version, status, the
/// promotion metric, artifact path).
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The registry.")

    @Option(help: "Only this domain (movies or polls); every domain without it.")
    var domain: String?

    func run() async throws {
        try await TrainerSession.run { session in
            let metricName = session.configuration.promotionMetric
            for entry in try await session.run.registry.list(domain: domain) {
                let metric = entry.metrics[metricName].map { String(format: "%.4f", $0) } ?? "–"
                print("\(entry.domain)\t\(entry.version)\t\(entry.status.rawValue)\t\(metricName)=\(metric)\t\(entry.path)")
            }
        }
    }
}
