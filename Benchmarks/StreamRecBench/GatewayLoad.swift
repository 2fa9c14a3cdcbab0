import Events
import Foundation
import LoadGeneration

// gateway-load: a paced HTTP load on POST /v1/events/batch, for end-to-end freshness: `rate` movie likes
// per second in NDJSON batches of `batch`, over `connections` keep-alive connections, each event stamped
// with the time it is sent, for `seconds`. The pacing is LoadGenerator's (no freshness probes here: the
// processor's own freshness histogram is what scripts/bench/freshness.sh reads).
// Prints: result name=gateway-load ops=<events accepted> seconds=<wall> rate=<events/s> non2xx=<count>

func gatewayLoad(_ arguments: GatewayLoadBenchmark) async throws {
    var configuration = LoadGenerator.Configuration()
    configuration.gatewayHost = arguments.host
    configuration.gatewayPort = arguments.port
    configuration.apiKey = arguments.apiKey
    configuration.rate = Double(arguments.rate)
    configuration.batch = arguments.batch
    configuration.connections = arguments.connections
    configuration.duration = .seconds(arguments.seconds)
    configuration.probesPerSecond = 0
    // 50 000 users × 1 682 items of likes; ids and times are replaced when sent.
    let templates = (0..<50_000).map { index in
        Event(
            eventID: "", type: .movieLike, userID: "u\(index)", subjectID: "m\(index % 1682)",
            occurredAt: EventTimestamp(millisecondsSinceEpoch: 0)
        )
    }
    let outcome = try await LoadGenerator(configuration: configuration, templates: templates, domain: .movie).run()
    report("gateway-load", operations: outcome.eventsAccepted, elapsed: outcome.elapsed, extra: "non2xx=\(outcome.failedRequests.values.reduce(0, +))")
}
