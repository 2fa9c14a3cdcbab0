import Datasets
import Events
import Foundation
import LoadGeneration
import Training

// loadgen: replays MovieLens ratings or synthetic poll interactions through the ingest gateway at a
// steady rate, and measures end-to-end freshness through the inference API (a new user's like/share
// posted → their recommendations no longer `popular`). Prints the figures as key=value.

let usage = """
    usage: loadgen [--source movielens|polls] [--data DIR] [--rate EVENTS_PER_S] [--seconds N]
                   [--gateway HOST:PORT] [--api HOST:PORT] [--api-key KEY | --api-key-file FILE]
                   [--connections N] [--batch N | --single 1] [--probes-per-second N] [--probe-timeout-ms N] [--user-prefix P]
                   [--api-rate REQUESTS_PER_S] [--api-connections N]

      --source             movielens (ratings of data/ml-100k, default) or polls (synthetic polls interactions)
      --data               the MovieLens directory (default data/ml-100k; make run fetches it)
      --rate               background events per second (default 1000; 0: probes only)
      --seconds            how long (default 30)
      --gateway / --api    default 127.0.0.1:8080 / 127.0.0.1:8082
      --api-key(-file)     a producer key of the gateway (make run writes .run/stack/gateway-api-key)
      --connections        keep-alive connections to the gateway (default 8)
      --batch              events per POST /v1/events/batch (default 10)
      --single 1           one event per POST /v1/events instead (request latency = "p99 at N req/s offered")
      --probes-per-second  freshness probes started per second (default 5; 0: none)
      --user-prefix        prepended to every user id (e.g. new-: users the model does not know)
      --api-rate           recommendation requests per second to the API, open loop (default 0: none); the mix
                           of scripts/bench/wrk-recommend.lua, each timed from when it was due (api_p99_ms)
      --api-connections    connections for them (default 32)
    """

func parseOptions() -> [String: String] {
    var arguments = ArraySlice(CommandLine.arguments.dropFirst())
    var options: [String: String] = [:]
    while let name = arguments.popFirst() {
        guard name.hasPrefix("--"), name != "--help", let value = arguments.popFirst() else {
            print(usage)
            exit(name == "--help" || name == "-h" ? 0 : 64)
        }
        options[String(name.dropFirst(2))] = value
    }
    return options
}
let options = parseOptions()

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("loadgen: \(message)\n".utf8))
    exit(64)
}

func endpoint(_ text: String) -> (String, Int) {
    let parts = text.split(separator: ":")
    guard parts.count == 2, let port = Int(parts[1]) else { fail("expected HOST:PORT, got \(text)") }
    return (String(parts[0]), port)
}

func number(_ name: String, _ fallback: Double, in options: [String: String] = options) -> Double {
    guard let text = options[name] else { return fallback }
    guard let value = Double(text), value.isFinite, value >= 0 else { fail("--\(name) is a number ≥ 0") }
    return value
}

var configuration = LoadGenerator.Configuration()
(configuration.gatewayHost, configuration.gatewayPort) = endpoint(options["gateway"] ?? "127.0.0.1:8080")
(configuration.apiHost, configuration.apiPort) = endpoint(options["api"] ?? "127.0.0.1:8082")
if let file = options["api-key-file"] {
    guard let key = try? String(contentsOfFile: file, encoding: .utf8) else { fail("cannot read \(file)") }
    configuration.apiKey = key.trimmingCharacters(in: .whitespacesAndNewlines)
} else {
    configuration.apiKey = options["api-key"] ?? ""
}
configuration.rate = number("rate", 1000)
configuration.duration = .milliseconds(Int64(number("seconds", 30) * 1000))
configuration.connections = max(1, Int(number("connections", 8)))
configuration.singleEvents = number("single", 0) > 0
configuration.batch = max(1, Int(number("batch", 10)))
configuration.probesPerSecond = number("probes-per-second", 5)
configuration.probeTimeout = .milliseconds(Int64(number("probe-timeout-ms", 5000)))
configuration.userPrefix = options["user-prefix"] ?? ""
configuration.recommendationRate = number("api-rate", 0)
configuration.recommendationConnections = max(1, Int(number("api-connections", 32)))

let templates: [Event]
let domain: EventDomain
switch options["source"] ?? "movielens" {
case "movielens":
    let directory = options["data"] ?? "data/ml-100k"
    guard let layout = Bootstrap.detectLayout(directory: directory) else { fail("no MovieLens files in \(directory) (scripts/fetch-data.sh fetches them)") }
    do {
        let (movies, ratings) = try Bootstrap.readMovieLens(directory: directory, layout: layout)
        templates = Bootstrap.events(dataset: "loadgen", movies: movies, ratings: ratings).interactions
    } catch {
        fail("\(error)")
    }
    domain = .movie
case "polls":
    templates = Bootstrap.events(polls: SyntheticPolls(configuration: .init())).interactions
    domain = .poll
case let other:
    fail("unknown source \(other) (movielens, polls)")
}

FileHandle.standardError.write(Data("loadgen: \(templates.count) template events, \(configuration.rate) events/s, \(configuration.probesPerSecond) probes/s for \(configuration.duration)\n".utf8))
do {
    let report = try await LoadGenerator(configuration: configuration, templates: templates, domain: domain).run()
    print(report.summary)
} catch {
    // Usually the gateway or the API is not reachable: a one-line reason, not a crash report.
    FileHandle.standardError.write(Data("loadgen: \(error)\n".utf8))
    exit(1)
}
