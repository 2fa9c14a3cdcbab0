import ArgumentParser
import Datasets
import Events
import Foundation
import LoadGeneration
import ServiceSupport
import Training

/// `loadgen`: replays MovieLens ratings or synthetic poll interactions through the ingest gateway at a
/// steady rate, and measures end-to-end freshness through the inference API (a new user's like/share
/// posted → their recommendations no longer `popular`). Prints the figures as key=value; a bad command
/// line exits 64, an unreachable gateway or API 1.
struct LoadGenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Steady event load through the ingest gateway, with end-to-end freshness probes through the inference API.",
        version: BuildInfo.version
    )

    @Option(help: "movielens (ratings of --data) or polls (synthetic polls interactions).")
    var source = "movielens"

    @Option(help: "The MovieLens directory (make run fetches it).")
    var data = "data/ml-100k"

    @Option(help: "Background events per second (0: probes only).")
    var rate: Double = 1000

    @Option(help: "How long, in seconds.")
    var seconds: Double = 30

    @Option(help: "The gateway's HOST:PORT.")
    var gateway = "127.0.0.1:8080"

    @Option(help: "The inference API's HOST:PORT.")
    var api = "127.0.0.1:8082"

    @Option(name: .customLong("api-key"), help: "A producer key of the gateway.")
    var apiKey: String?

    @Option(name: .customLong("api-key-file"), help: "A file holding a producer key of the gateway (make run writes .run/stack/gateway-api-key).")
    var apiKeyFile: String?

    @Option(help: "Keep-alive connections to the gateway.")
    var connections: Double = 8

    @Option(help: "Events per POST /v1/events/batch.")
    var batch: Double = 10

    @Option(help: "1: one event per POST /v1/events instead (request latency = \"p99 at N req/s offered\").")
    var single: Double = 0

    @Option(name: .customLong("probes-per-second"), help: "Freshness probes started per second (0: none).")
    var probesPerSecond: Double = 5

    @Option(name: .customLong("probe-timeout-ms"), help: "How long a probe waits for its recommendations to change.")
    var probeTimeoutMilliseconds: Double = 5000

    @Option(name: .customLong("user-prefix"), help: "Prepended to every user id (e.g. new-: users the model does not know).")
    var userPrefix = ""

    @Option(
        name: .customLong("api-rate"),
        help: "Recommendation requests per second to the API, open loop (0: none); the mix of scripts/bench/wrk-recommend.lua, each timed from when it was due (api_p99_ms)."
    )
    var apiRate: Double = 0

    @Option(name: .customLong("api-connections"), help: "Connections for the recommendation requests.")
    var apiConnections: Double = 32

    @Option(name: .customLong("api-path"), help: "With --api-rate: GET this one path instead of the recommendation mix (e.g. /healthz, the floor).")
    var apiPath: String?

    func validate() throws {
        let numbers = [
            ("rate", rate), ("seconds", seconds), ("connections", connections), ("batch", batch), ("single", single),
            ("probes-per-second", probesPerSecond), ("probe-timeout-ms", probeTimeoutMilliseconds), ("api-rate", apiRate), ("api-connections", apiConnections),
        ]
        for (name, value) in numbers where !(value.isFinite && value >= 0) { throw ValidationError("--\(name) is a number ≥ 0") }
        for text in [gateway, api] where Self.endpoint(text) == nil { throw ValidationError("expected HOST:PORT, got \(text)") }
        guard ["movielens", "polls"].contains(source) else { throw ValidationError("unknown source \(source) (movielens, polls)") }
    }

    static func endpoint(_ text: String) -> (host: String, port: Int)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { return nil }
        return (String(parts[0]), port)
    }

    func run() async throws {
        var configuration = LoadGenerator.Configuration()
        guard let gatewayEndpoint = Self.endpoint(gateway), let apiEndpoint = Self.endpoint(api) else { throw ExitCode.validationFailure }
        (configuration.gatewayHost, configuration.gatewayPort) = gatewayEndpoint
        (configuration.apiHost, configuration.apiPort) = apiEndpoint
        if let file = apiKeyFile {
            guard let key = try? String(contentsOfFile: file, encoding: .utf8) else { throw Self.fail("cannot read \(file)") }
            configuration.apiKey = key.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            configuration.apiKey = apiKey ?? ""
        }
        configuration.rate = rate
        configuration.duration = .milliseconds(Int64(seconds * 1000))
        configuration.connections = max(1, Int(connections))
        configuration.singleEvents = single > 0
        configuration.batch = max(1, Int(batch))
        configuration.probesPerSecond = probesPerSecond
        configuration.probeTimeout = .milliseconds(Int64(probeTimeoutMilliseconds))
        configuration.userPrefix = userPrefix
        configuration.recommendationRate = apiRate
        configuration.recommendationFixedPath = apiPath
        configuration.recommendationConnections = max(1, Int(apiConnections))

        let templates: [Event]
        let domain: EventDomain
        if source == "polls" {
            templates = Bootstrap.events(polls: SyntheticPolls(configuration: .init())).interactions
            domain = .poll
        } else {
            guard let layout = Bootstrap.detectLayout(directory: data) else { throw Self.fail("no MovieLens files in \(data) (scripts/fetch-data.sh fetches them)") }
            do {
                let (movies, ratings) = try Bootstrap.readMovieLens(directory: data, layout: layout)
                templates = Bootstrap.events(dataset: "loadgen", movies: movies, ratings: ratings).interactions
            } catch {
                throw Self.fail("\(error)")
            }
            domain = .movie
        }

        FileHandle.standardError.write(Data("loadgen: \(templates.count) template events, \(configuration.rate) events/s, \(configuration.probesPerSecond) probes/s for \(configuration.duration)\n".utf8))
        do {
            let report = try await LoadGenerator(configuration: configuration, templates: templates, domain: domain).run()
            print(report.summary)
        } catch {
            // Usually the gateway or the API is not reachable: a one-line reason, not a crash report.
            FileHandle.standardError.write(Data("loadgen: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// A one-line reason on standard error; exit 64, as loadgen always did for its inputs.
    static func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("loadgen: \(message)\n".utf8))
        return ExitCode.validationFailure
    }
}
