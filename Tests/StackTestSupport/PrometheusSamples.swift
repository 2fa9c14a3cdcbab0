/// Samples of a Prometheus text exposition (`/metrics`), for tests that check what a service reports.
public struct PrometheusSamples: Sendable {
    /// (metric name, labels, value) per sample line; comments and blank lines left out.
    public let samples: [(name: String, labels: [String: String], value: Double)]

    public init(_ text: String) {
        samples = text.split(separator: "\n").compactMap { line -> (String, [String: String], Double)? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return (String(series), [:], value) }
            var labels: [String: String] = [:]
            // name="value" pairs; the services' label values hold no quotes or commas.
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { labels[String(parts[0])] = String(parts[1].dropFirst().dropLast()) }
            }
            return (String(series[..<brace]), labels, value)
        }
    }

    /// The sum of the samples of `name` whose labels include `matching`; nil when there is none.
    public func sum(_ name: String, matching: [String: String] = [:]) -> Double? {
        let values = samples.filter { sample in sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value } }.map(\.value)
        return values.isEmpty ? nil : values.reduce(0, +)
    }

    /// The label sets present for `name`.
    public func labels(of name: String) -> [[String: String]] { samples.filter { $0.name == name }.map(\.labels) }
}
