import Events
import Foundation
import LoadGeneration

// gateway-load: a paced HTTP load on POST /v1/events/batch, for end-to-end freshness: `rate` movie likes
// per second in NDJSON batches of `batch`, over `connections` keep-alive connections, each event stamped
// with the time it is sent, for `seconds`. The pacing is LoadGenerator's (no freshness probes here: the
// processor's own freshness histogram is what scripts/bench/freshness.sh reads).
// Prints: result name=gateway-load ops=<events accepted> seconds=<wall> rate=<events/s> non2xx=<count>

func gatewayLoad(_ arguments: Arguments) async throws {
    var configuration = LoadGenerator.Configuration()
    configuration.gatewayHost = arguments.string("host", "127.0.0.1")
    configuration.gatewayPort = arguments.int("port", 8080)
    configuration.apiKey = arguments.string("api-key", "")
    configuration.rate = Double(arguments.int("rate", 10_000))
    configuration.batch = arguments.int("batch", 10)
    configuration.connections = arguments.int("connections", 8)
    configuration.duration = .seconds(arguments.int("seconds", 30))
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
