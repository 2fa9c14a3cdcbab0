import EventRecords
import Events
import Foundation
import Ingest
import Kafka
import Logging
import ServiceConfiguration
import ServiceSupport

/// Where a request's cost goes, without HTTP and without wrk: the same events as the wrk scripts
/// (`wrk-batch.lua`'s mix for `--events` > 1, `wrk-event.lua`'s single `movie.like` for 1; `window` requests
/// in flight; the gateway's own configuration from `configs/` and the environment), taken through cumulative
/// stages in one process:
///   - `kafka`: the requests' canonical records, made before the clock starts, handed straight to the
///     producer (what Kafka alone costs);
///   - `codec`: NDJSON split, parse, validate and canonical JSON, nothing sent;
///   - `ingest`: codec + `IngestService.ingest` (idempotency cache, publish, delivery reports): the
///     gateway minus HTTP.
/// Each prints events/s and the process's CPU per event (user + system; both over the events that made it,
/// and the count of those that did not), the steadier figure on a noisy
/// machine; with `--broker-pid` also the broker's CPU per event. `scripts/bench/gateway.sh` gives the
/// whole gateway's figure over HTTP beside them.
func gatewayStages(_ arguments: GatewayStagesBenchmark) async throws {
    let requests = arguments.requests
    let perRequest = arguments.events
    let window = arguments.window
    let stages = arguments.stages.split(separator: ",").map(String.init)
    let brokerPID = arguments.brokerPid
    let configuration = ServiceBootstrap.loadConfiguration(service: "ingest-gateway", keys: ServiceBootstrap.commonKeys + IngestConfiguration.Keys.all) { reader throws(ConfigurationError) in
        try IngestConfiguration(reading: reader)
    }
    let bodies = (0..<requests).map { batchBody(request: $0, events: perRequest) }
    let logger = Logger(label: "streamrec.bench.gateway-stages")
    let producers = try ProducerSlot(flushTimeout: .seconds(10), logger: logger) {
        try KafkaProducer(configuration: configuration.producer, logger: logger)
    }
    let service = IngestService(configuration: configuration, producers: producers, metrics: ServiceMetrics(), logger: logger)
    // The event topics, created as the gateway creates them.
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: configuration.producer.bootstrapServers), logger: logger)
    let readiness = BrokerReadiness(admin: admin, producers: producers, configuration: configuration, logger: logger)
    await readiness.check()
    await readiness.shutdown()
    let records = stages.contains("kafka") ? bodies.map { body in
        decode(body, service: service).compactMap { candidate -> KafkaProducerMessage? in
            guard case .success(let event) = candidate else { return nil }
            return EventRecord.message(for: event, canonicalJSON: event.canonicalJSON(), topics: service.publisher.topics)
        }
    } : []
    // The producer learns the topics' partitions on first use: one record each, untimed.
    let warmUp = bodies[0].prefix { $0 != UInt8(ascii: "\n") }
    _ = await service.ingest([service.validate(try JSONParser.parse(Array(warmUp)), now: service.now)], producer: "bench")

    // Each stage runs the requests `window` at a time and returns the events that did not make it.
    func run(_ stage: String, requests: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var failures = 0
            var next = 0
            func add() {
                let (body, messages) = (bodies[next], records.isEmpty ? [] : records[next])
                next += 1
                group.addTask { await runStage(stage, body: body, records: messages, service: service) }
            }
            while next < min(window, requests) { add() }
            while let failed = try await group.next() {
                failures += failed
                if next < requests { add() }
            }
            return failures
        }
    }
    // Untimed: a freshly started broker answers its first few thousand records slower (seen as the
    // first stage of a run reading up to a third lower than the same stage later).
    _ = try await run("ingest", requests: min(requests, max(window, 2000 / max(1, perRequest))))

    for stage in stages {
        let before = processCPUSeconds()
        let brokerBefore = brokerPID.map(cpuSeconds(of:))
        let started = ContinuousClock.now
        let failures = try await run(stage, requests: requests)
        let elapsed = ContinuousClock.now - started
        let cpu = processCPUSeconds() - before
        let events = max(1, requests * perRequest - failures)
        var extra = "cpu_us_per_event=\(String(format: "%.2f", cpu * 1e6 / Double(events)))"
        if let brokerPID, let brokerBefore {
            extra += " broker_cpu_us_per_event=\(String(format: "%.2f", (cpuSeconds(of: brokerPID) - brokerBefore) * 1e6 / Double(events)))"
        }
        report("gateway-stage-\(stage)", operations: events, elapsed: elapsed, extra: extra + " failures=\(failures)")
    }
    await producers.shutdown()
}

/// One request's worth of work for a stage; returns the events that did not make it.
private func runStage(_ stage: String, body: [UInt8], records: [KafkaProducerMessage], service: IngestService) async -> Int {
    switch stage {
    case "kafka":
        return await service.publisher.publish(records).count { if case .failure = $0 { true } else { false } }
    case "codec":
        var failed = 0
        for candidate in decode(body, service: service) {
            if case .success(let event) = candidate, !event.canonicalJSON().isEmpty { continue }
            failed += 1
        }
        return failed
    default:
        return await service.ingest(decode(body, service: service), producer: "bench").count { if case .accepted = $0 { false } else { true } }
    }
}

/// NDJSON → validated events, as the batch route does it.
private func decode(_ body: [UInt8], service: IngestService) -> [Result<Event, EventValidationError>] {
    service.validate(lines: IngestService.ndjsonLines(body), now: service.now)
}

/// The shapes the wrk scripts send: `wrk-event.lua`'s one `movie.like` with a context for a single event,
/// `wrk-batch.lua`'s ratings, likes, views and poll votes as NDJSON for more.
private func batchBody(request: Int, events: Int) -> [UInt8] {
    let at = RFC3339.format(EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)))
    if events == 1 {
        return Array(#"{"type":"movie.like","user_id":"u\#(request % 50_000)","item_id":"m\#(request % 1682)","occurred_at":"\#(at)","context":{"device":"web"}}"#.utf8)
    }
    var lines: [String] = []
    for index in 0..<events {
        let counter = request * events + index
        let user = counter % 50_000
        switch counter % 4 {
        case 0: lines.append(#"{"type":"movie.rating","user_id":"u\#(user)","item_id":"m\#(counter % 1682)","occurred_at":"\#(at)","value":\#(counter % 5).5}"#)
        case 1: lines.append(#"{"type":"movie.like","user_id":"u\#(user)","item_id":"m\#(counter % 1682)","occurred_at":"\#(at)"}"#)
        case 2: lines.append(#"{"type":"movie.view","user_id":"u\#(user)","item_id":"m\#(counter % 1682)","occurred_at":"\#(at)","watch_seconds":\#(counter % 7200)}"#)
        default: lines.append(#"{"type":"poll.vote","user_id":"u\#(user)","poll_id":"p\#(counter % 707)","occurred_at":"\#(at)","option_id":"o\#(counter % 4)"}"#)
        }
    }
    return Array(lines.joined(separator: "\n").utf8)
}

/// User + system CPU time of this process so far.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// User + system CPU time of another process (`/proc/<pid>/stat`, fields 14 and 15, in clock ticks).
private func cpuSeconds(of pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let afterName = stat.lastIndex(of: ")") else { return 0 }
    // Fields after the command name start at field 3 (state).
    let fields = stat[stat.index(after: afterName)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
