import Events
import NIOPosix

/// Replays a dataset's events through the ingest gateway, as live producers would send them.
public enum EventReplay {
    public struct Outcome: Sendable, Hashable {
        public var accepted = 0
        public var rejected = 0
        /// Requests answered with a non-2xx status (each a whole batch not accepted).
        public var failedRequests = 0

        public init(accepted: Int = 0, rejected: Int = 0, failedRequests: Int = 0) {
            self.accepted = accepted
            self.rejected = rejected
            self.failedRequests = failedRequests
        }
    }

    /// Moves event times so that the newest is `now` and none is older than `now − horizon`, compressing
    /// the gaps proportionally when the dataset spans more than that: historical datasets (MovieLens is
    /// from 1997–98) pass the gateway's age check and keep their order.
    public static func retimed(_ events: [Event], now: Int64, horizon: Int64) -> [Event] {
        guard let newest = events.map(\.occurredAt.millisecondsSinceEpoch).max(),
            let oldest = events.map(\.occurredAt.millisecondsSinceEpoch).min()
        else { return events }
        let span = max(1, newest - oldest)
        let scale = min(1, Double(horizon) / Double(span))
        return events.map { event in
            var moved = event
            let age = Double(newest - event.occurredAt.millisecondsSinceEpoch) * scale
            moved.occurredAt = EventTimestamp(millisecondsSinceEpoch: now - Int64(age.rounded()))
            return moved
        }
    }

    /// Posts `events` in order, in NDJSON batches of `batchSize`, at most `rate` events per second (nil:
    /// as fast as the gateway answers). `progress` gets (sent, total) after each batch.
    public static func replay(
        _ events: [Event], host: String, port: Int, apiKey: String, batchSize: Int = 500, rate: Double? = nil,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> Outcome {
        let poster = try await GatewayPoster.connect(host: host, port: port, apiKey: apiKey, group: MultiThreadedEventLoopGroup.singleton)
        let started = ContinuousClock.now
        return try await poster.session { post in
            var outcome = Outcome()
            var sent = 0
            for start in stride(from: 0, to: events.count, by: batchSize) {
                let batch = events[start..<min(events.count, start + batchSize)]
                if let rate {
                    try await Task.sleep(until: started + .seconds(Double(sent) / rate), clock: .continuous)
                }
                let (status, body) = try await post(batch.map(GatewayPoster.line).joined(separator: "\n"))
                if (200..<300).contains(status) {
                    let counts = summary(body)
                    outcome.accepted += counts.accepted
                    outcome.rejected += counts.rejected
                } else {
                    outcome.failedRequests += 1
                }
                sent += batch.count
                progress(sent, events.count)
            }
            return outcome
        }
    }

    /// The gateway's batch summary: `{"accepted":N,"rejected":M,"results":[...]}`.
    static func summary(_ body: String) -> (accepted: Int, rejected: Int) {
        guard case .object(let members)? = try? JSONParser.parse(Array(body.utf8)) else { return (0, 0) }
        func number(_ key: String) -> Int {
            if case .number(let text)? = members.first(where: { $0.key == key })?.value { return Int(text) ?? 0 }
            return 0
        }
        return (number("accepted"), number("rejected"))
    }
}
