import Events
import Foundation
import NIOHTTP1
import Synchronization

/// A steady event load through the ingest gateway, with end-to-end freshness probes through the
/// inference API: what `loadgen` runs and the benchmarks measure with.
///
/// Load: the template events cycled at `rate` events/s in NDJSON batches over `connections` keep-alive
/// connections (or one event per `POST /v1/events` with `singleEvents`), each sent with a new event id
/// and stamped with its send time; requests follow a fixed schedule (a slow answer delays that
/// connection's next request; a connection that fell behind then sends back to back until it is on
/// schedule again, one request at a time). Each request's latency is measured from the time
/// it was due, not from when it was sent, so a stalled server is charged for the requests it delayed
/// (no coordinated omission, as wrk2 measures); `request_p99_ms` is the figure for "p99 at N req/s offered".
/// A lost connection ends its schedule: the requests it would still have sent count as failed (status 0).
///
/// Freshness probe: a user nobody has seen posts one positive event (a like, a share) on a popular item;
/// the API is asked for that user's recommendations until the strategy is no longer `popular` (the
/// event was applied to Redis and folded in). Freshness = post sent → first answer showing it.
public struct LoadGenerator: Sendable {
    public struct Configuration: Sendable {
        public var gatewayHost = "127.0.0.1"
        public var gatewayPort = 8080
        public var apiHost = "127.0.0.1"
        public var apiPort = 8082
        public var apiKey = ""
        /// Background events per second (0: probes only).
        public var rate: Double = 1000
        public var duration: Duration = .seconds(30)
        public var connections = 8
        /// Events per `POST /v1/events/batch` (ignored with `singleEvents`).
        public var batch = 10
        /// One event per request to `POST /v1/events` instead of batches.
        public var singleEvents = false
        /// Recommendation requests per second to the API (0: none), open loop like the event load: the
        /// mix of `scripts/bench/wrk-recommend.lua` (50 % users 1…943 known to a MovieLens model, 20 %
        /// `new-1…943`, 30 % anonymous visitors), k = 20, over `recommendationConnections` connections,
        /// each timed from when it was due.
        public var recommendationRate: Double = 0
        public var recommendationConnections = 32
        /// One fixed path for every open-loop request instead of the recommendation mix (e.g. `/healthz`: the
        /// floor of the HTTP stack and of this generator at the same rate, measured in the same run).
        public var recommendationFixedPath: String?
        /// Freshness probes started per second (0: none).
        public var probesPerSecond: Double = 5
        /// A probe not visible after this long counts as timed out.
        public var probeTimeout: Duration = .seconds(5)
        /// How often a probe asks the API.
        public var probePollInterval: Duration = .milliseconds(10)
        /// Prepended to the templates' user ids: "new-" makes MovieLens users unknown to a model trained
        /// on MovieLens (fold-in users).
        public var userPrefix = ""

        public init() {}
    }

    public struct Report: Sendable {
        public var eventsAccepted = 0
        /// Due time → answer, per background request.
        public var requestLatencies: [Duration] = []
        /// Due time → answer, per recommendation request; answers other than 200, by status (0: no answer).
        public var recommendationLatencies: [Duration] = []
        public var recommendationFailures: [Int: Int] = [:]
        /// Requests answered with a non-2xx status, by status (0: the connection failed).
        public var failedRequests: [Int: Int] = [:]
        public var elapsed: Duration = .zero
        /// Post → visible, one per probe that became visible in time.
        public var freshness: [Duration] = []
        public var probesTimedOut = 0
        /// Probes whose own post was refused (status ≠ 2xx).
        public var probesFailed = 0

        public var acceptedPerSecond: Double { Double(eventsAccepted) / Self.seconds(elapsed) }

        static func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }

        /// The `q`-quantile (0…1) of the freshness samples (nearest rank), nil without samples.
        public func freshnessQuantile(_ q: Double) -> Duration? { Self.quantile(q, of: freshness) }

        /// The `q`-quantile (0…1) of the background requests' latencies (nearest rank).
        public func requestQuantile(_ q: Double) -> Duration? { Self.quantile(q, of: requestLatencies) }

        static func quantile(_ q: Double, of samples: [Duration]) -> Duration? {
            guard !samples.isEmpty else { return nil }
            let sorted = samples.sorted()
            return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
        }

        /// One line per figure, for people and scripts (`key=value`).
        public var summary: String {
            func ms(_ duration: Duration?) -> String { duration.map { String(format: "%.1f", Self.seconds($0) * 1000) } ?? "n/a" }
            let failures = failedRequests.sorted { $0.key < $1.key }.map { "\($0.key == 0 ? "connection" : String($0.key)):\($0.value)" }.joined(separator: ",")
            return [
                "events_accepted=\(eventsAccepted)", String(format: "accepted_per_second=%.0f", acceptedPerSecond),
                "requests=\(requestLatencies.count)", String(format: "requests_per_second=%.0f", Double(requestLatencies.count) / Self.seconds(elapsed)),
                "request_p50_ms=\(ms(requestQuantile(0.5)))", "request_p99_ms=\(ms(requestQuantile(0.99)))", "request_max_ms=\(ms(requestLatencies.max()))",
                "failed_requests=\(failures.isEmpty ? "none" : failures)", "probes=\(freshness.count + probesTimedOut + probesFailed)",
                "probes_visible=\(freshness.count)", "probes_timed_out=\(probesTimedOut)", "probes_failed=\(probesFailed)",
                "freshness_p50_ms=\(ms(freshnessQuantile(0.5)))", "freshness_p99_ms=\(ms(freshnessQuantile(0.99)))",
                "freshness_max_ms=\(ms(freshness.max()))",
                "api_requests=\(recommendationLatencies.count)",
                String(format: "api_requests_per_second=%.0f", Double(recommendationLatencies.count) / Self.seconds(elapsed)),
                "api_p50_ms=\(ms(Self.quantile(0.5, of: recommendationLatencies)))", "api_p99_ms=\(ms(Self.quantile(0.99, of: recommendationLatencies)))",
                "api_max_ms=\(ms(recommendationLatencies.max()))",
                "api_failed=\(recommendationFailures.isEmpty ? "none" : recommendationFailures.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ","))",
            ].joined(separator: " ")
        }
    }

    public let configuration: Configuration
    /// Cycled for the background load (ids and times are replaced when sent).
    public let templates: [Event]
    /// Items the probes act on (popular ones: known to the model).
    public let probeItems: [String]
    public let domain: EventDomain

    public init(configuration: Configuration, templates: [Event], domain: EventDomain) {
        precondition(!templates.isEmpty, "no template events")
        self.configuration = configuration
        self.templates = templates
        self.domain = domain
        var counts: [String: Int] = [:]
        for event in templates where event.domain == domain { counts[event.subjectID, default: 0] += 1 }
        probeItems = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(50).map(\.key)
    }

    public func run() async throws -> Report {
        let started = ContinuousClock.now
        let configuration = configuration
        let report = ReportBox()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            if configuration.rate > 0 {
                for connection in 0..<configuration.connections {
                    tasks.addTask { try await self.load(connection: connection, started: started, report: report) }
                }
            }
            if configuration.probesPerSecond > 0 {
                tasks.addTask { try await self.probes(started: started, report: report) }
            }
            if configuration.recommendationRate > 0 {
                for connection in 0..<configuration.recommendationConnections {
                    tasks.addTask { try await self.recommendations(connection: connection, started: started, report: report) }
                }
            }
            try await tasks.waitForAll()
        }
        return report.state.withLock { report in
            report.elapsed = ContinuousClock.now - started
            return report
        }
    }

    private func load(connection: Int, started: ContinuousClock.Instant, report: ReportBox) async throws {
        let configuration = configuration
        let batch = configuration.singleEvents ? 1 : configuration.batch
        let interval = Duration.seconds(Double(configuration.connections * batch) / configuration.rate)
        let poster = try await GatewayPoster.connect(
            host: configuration.gatewayHost, port: configuration.gatewayPort, apiKey: configuration.apiKey, group: .singletonMultiThreadedEventLoopGroup
        )
        try await poster.session(singleEvents: configuration.singleEvents) { post in
            var next = connection * 7919 % templates.count
            try await followSchedule(
                connection: connection, of: configuration.connections, interval: interval, started: started, report: report
            ) {
                let now = EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
                var lines: [String] = []
                for _ in 0..<batch {
                    var event = templates[next]
                    next = (next + configuration.connections) % templates.count
                    event.eventID = EventID.random()
                    event.occurredAt = now
                    event.userID = configuration.userPrefix + event.userID
                    lines.append(GatewayPoster.line(event))
                }
                return (try? await post(lines.joined(separator: "\n")).status) ?? 0
            } record: { report, status, latency in
                report.requestLatencies.append(latency)
                if status / 100 == 2 { report.eventsAccepted += batch } else { report.failedRequests[status, default: 0] += 1 }
            } recordUnsent: { report, unsent in
                report.failedRequests[0, default: 0] += unsent
            }
        }
    }

    /// One connection's share of an open-loop schedule: `send` at each due time (connections start spread
    /// over one interval, so requests arrive evenly), each answer recorded with its latency from the due
    /// time. A lost connection (status 0) ends the share; what it would still have sent is recorded as unsent.
    private func followSchedule(
        connection: Int, of connections: Int, interval: Duration, started: ContinuousClock.Instant, report: ReportBox,
        send: () async -> Int, record: @escaping @Sendable (inout Report, Int, Duration) -> Void,
        recordUnsent: @escaping @Sendable (inout Report, Int) -> Void
    ) async throws {
        let end = started + configuration.duration
        var due = started + interval * (Double(connection) / Double(connections))
        while due < end {
            try await Task.sleep(until: due, clock: .continuous)
            let status = await send()
            let latency = ContinuousClock.now - due
            report.state.withLock { record(&$0, status, latency) }
            if status == 0 {
                let unsent = Self.remainingSlots(after: due, interval: interval, end: end)
                report.state.withLock { recordUnsent(&$0, unsent) }
                return
            }
            due = due + interval
        }
    }

    /// Due times left in a schedule after `due` (exclusive) and before `end`.
    static func remainingSlots(after due: ContinuousClock.Instant, interval: Duration, end: ContinuousClock.Instant) -> Int {
        guard due < end else { return 0 }
        return max(0, Int(((end - due) / interval).rounded(.up)) - 1)
    }

    private func recommendations(connection: Int, started: ContinuousClock.Instant, report: ReportBox) async throws {
        let configuration = configuration
        let interval = Duration.seconds(Double(configuration.recommendationConnections) / configuration.recommendationRate)
        let domainName = domain.name
        var generator = SystemRandomNumberGenerator()
        let api = try await HTTPConnection.connect(host: configuration.apiHost, port: configuration.apiPort)
        try await api.session { send in
            try await followSchedule(
                connection: connection, of: configuration.recommendationConnections, interval: interval, started: started, report: report
            ) {
                if let fixed = configuration.recommendationFixedPath { return (try? await send(.GET, fixed, [], nil).status) ?? 0 }
                let draw = Double.random(in: 0..<1, using: &generator)
                let user = draw < 0.5 ? String(Int.random(in: 1...943, using: &generator))
                    : draw < 0.7 ? "new-\(Int.random(in: 1...943, using: &generator))"
                    : "visitor-\(Int.random(in: 1...100_000, using: &generator))"
                return (try? await send(.GET, "/v1/users/\(user)/recommendations?domain=\(domainName)&k=20", [], nil).status) ?? 0
            } record: { report, status, latency in
                report.recommendationLatencies.append(latency)
                if status != 200 { report.recommendationFailures[status, default: 0] += 1 }
            } recordUnsent: { report, unsent in
                report.recommendationFailures[0, default: 0] += unsent
            }
        }
    }

    private func probes(started: ContinuousClock.Instant, report: ReportBox) async throws {
        let configuration = configuration
        let interval = Duration.seconds(1 / configuration.probesPerSecond)
        try await withThrowingTaskGroup(of: Void.self) { probes in
            var due = started + interval / 2
            var index = 0
            while due < started + configuration.duration {
                try await Task.sleep(until: due, clock: .continuous)
                let item = probeItems[index % probeItems.count]
                index += 1
                probes.addTask {
                    let outcome = try await self.probe(item: item)
                    report.state.withLock { report in
                        switch outcome {
                        case .visible(let after): report.freshness.append(after)
                        case .timedOut: report.probesTimedOut += 1
                        case .refused: report.probesFailed += 1
                        }
                    }
                }
                due = due + interval
            }
            try await probes.waitForAll()
        }
    }

    final class ReportBox: Sendable {
        let state = Mutex(Report())
    }

    enum ProbeOutcome { case visible(Duration), timedOut, refused }

    static func strategy(_ body: String) -> String? {
        guard case .object(let members)? = try? JSONParser.parse(Array(body.utf8)),
            case .string(let strategy)? = members.first(where: { $0.key == "strategy" })?.value
        else { return nil }
        return strategy
    }

    /// One probe on its own connections (the post must not queue behind the load).
    func probe(item: String) async throws -> ProbeOutcome {
        let configuration = configuration
        let user = "probe-" + EventID.random().prefix(13)
        let event = Event(
            eventID: EventID.random(), type: domain == .movie ? .movieLike : .pollShare, userID: user, subjectID: item,
            occurredAt: EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        )
        let gateway = try await HTTPConnection.connect(host: configuration.gatewayHost, port: configuration.gatewayPort)
        var headers = [("Content-Type", "application/json")]
        if !configuration.apiKey.isEmpty { headers.append(("X-API-Key", configuration.apiKey)) }
        let sentHeaders = headers
        let posted = ContinuousClock.now
        let status = try await gateway.session { send in try await send(.POST, "/v1/events", sentHeaders, GatewayPoster.line(event)).status }
        guard status / 100 == 2 else { return .refused }
        let api = try await HTTPConnection.connect(host: configuration.apiHost, port: configuration.apiPort)
        let path = "/v1/users/\(user)/recommendations?domain=\(domain.name)&k=5"
        return try await api.session { send in
            while ContinuousClock.now - posted < configuration.probeTimeout {
                let (status, body) = try await send(.GET, path, [], nil)
                if status == 200, let strategy = Self.strategy(body), strategy != "popular" { return .visible(ContinuousClock.now - posted) }
                try await Task.sleep(for: configuration.probePollInterval)
            }
            return .timedOut
        }
    }
}
