import Events
import Foundation
import LoadGeneration
import NIOPosix

// gateway-load: a paced HTTP load on POST /v1/events/batch, for end-to-end freshness: `rate` events per
// second in NDJSON batches of `batch`, over `connections` keep-alive connections, each event stamped
// with the time it is sent (milliseconds), for `seconds`. Requests follow a fixed schedule: a slow
// answer delays the next request of that connection only until it is due again (no catch-up bursts).
// Prints: result name=gateway-load ops=<events accepted> seconds=<wall> rate=<events/s> non2xx=<count>

func gatewayLoad(_ arguments: Arguments) async throws {
    let host = arguments.string("host", "127.0.0.1")
    let port = arguments.int("port", 8080)
    let rate = Double(arguments.int("rate", 10_000))
    let batch = arguments.int("batch", 10)
    let connections = arguments.int("connections", 8)
    let duration = Duration.seconds(arguments.int("seconds", 30))
    let apiKey = arguments.string("api-key", "")
    let interval = Duration.seconds(Double(connections * batch) / rate)
    let started = ContinuousClock.now
    let results = try await withThrowingTaskGroup(of: (Int, Int).self) { tasks in
        for connection in 0..<connections {
            tasks.addTask {
                let poster = try await GatewayPoster.connect(host: host, port: port, apiKey: apiKey, group: MultiThreadedEventLoopGroup.singleton)
                return try await poster.session { post in
                    var accepted = 0
                    var failed = 0
                    var counter = connection * 1_000_000
                    // Connections start spread over one interval, so requests arrive evenly.
                    var due = started + interval * (Double(connection) / Double(connections))
                    while due < started + duration {
                        try await Task.sleep(until: due, clock: .continuous)
                        var body = ""
                        let now = EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)).description
                        for _ in 0..<batch {
                            counter += 1
                            body += #"{"type":"movie.like","user_id":"u\#(counter % 50_000)","item_id":"m\#(counter % 1682)","occurred_at":"\#(now)"}"# + "\n"
                        }
                        let (status, _) = try await post(body)
                        if status / 100 == 2 { accepted += batch } else { failed += 1 }
                        due = due + interval
                    }
                    return (accepted, failed)
                }
            }
        }
        var total = (0, 0)
        for try await (accepted, failed) in tasks { total = (total.0 + accepted, total.1 + failed) }
        return total
    }
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("result name=gateway-load ops=\(results.0) seconds=\(String(format: "%.3f", seconds)) rate=\(String(format: "%.0f", Double(results.0) / seconds)) non2xx=\(results.1)")
}
