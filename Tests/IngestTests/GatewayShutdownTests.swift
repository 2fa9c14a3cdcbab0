import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Kafka
import NIOCore
import StackTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Ingest gateway process: a taken port, graceful shutdown under load", .serialized)
struct GatewayShutdownTests {
    @Test("SIGTERM while producers post: exit 0, and every event answered 2xx is in Kafka")
    func sigtermUnderLoad() async throws {
        let port = TestStack.freePort()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let topics = EventTopics(movie: "shutdown-movie-\(suffix)", poll: "shutdown-poll-\(suffix)")
        let log = NSTemporaryDirectory() + "gateway-\(suffix).log"
        let environment = try Self.environment(port: port, topics: topics)
        let pid = try TestStack.spawnInBackground([TestStack.executable("ingest-gateway")], environment: environment, outputPath: log)
        defer {
            kill(pid, SIGKILL)
            try? FileManager.default.removeItem(atPath: log)
        }

        // Ready when /readyz says so (topics created, broker reachable).
        var ready = false
        for _ in 0..<100 where !ready {
            let client = TestClient(host: "127.0.0.1", port: port)
            client.connect()
            let response = try? await client.execute(.init("/readyz", method: .get))
            try? await client.shutdown()
            ready = response?.head.status == .ok
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        let startLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(ready, "gateway did not become ready: \(startLog)")

        // 16 producers post events with known ids until the connection is closed under them.
        let outcomes = Outcomes()
        let stopped = LockedFlag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<16 {
                group.addTask {
                    let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(20)))
                    client.connect()
                    for index in 0..<10_000 {
                        let id = EventID.random()
                        let event = #"{"event_id":"\#(id)","type":"movie.like","user_id":"p\#(producer)","item_id":"m\#(index)","occurred_at":"\#(recent())"}"#
                        guard let response = try? await client.execute(.init("/v1/events", method: .post, headers: jsonHeaders, body: ByteBuffer(string: event))) else {
                            break  // connection closed by the shutdown: outcome unknown to the client, so not counted
                        }
                        outcomes.record(id, response.head.status)
                        if stopped.isSet && response.head.status != .accepted { break }
                    }
                    try? await client.shutdown()
                }
            }
            // SIGTERM once the load is established (at least 150 events accepted), not after a fixed time:
            // a loaded machine may take seconds to get there.
            let deadline = ContinuousClock.now + .seconds(30)
            while outcomes.all.count < 150, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            stopped.set()
            kill(pid, SIGTERM)
            try await group.waitForAll()
        }
        let exitCode = await TestStack.waitForExit(pid, timeout: .seconds(30))
        let endLog = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(2000)
        #expect(exitCode == 0, "exit code \(String(describing: exitCode)); log: \(endLog)")

        let answered = outcomes.all
        let accepted = Set(answered.filter { $0.value == .accepted }.map(\.key))
        #expect(accepted.count > 100, "load was running when SIGTERM arrived")
        #expect(answered.values.allSatisfy { $0 == .accepted || $0 == .serviceUnavailable }, "\(Set(answered.values.map(\.code)))")

        // Every 2xx is durable.
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: try TestStack.kafkaBrokers(), groupID: TestStack.uniqueName("shutdown"),
            sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1)
        ))
        try consumer.subscribe(topics: [topics.movie])
        var found = Set<String>()
        let deadline = ContinuousClock.now + .seconds(60)
        for try await batch in consumer.batches {
            for record in batch { if let event = try? Event.decode(record.value) { found.insert(event.eventID) } }
            if accepted.isSubset(of: found) || ContinuousClock.now > deadline { break }
        }
        await consumer.close()
        #expect(accepted.subtracting(found).isEmpty, "\(accepted.subtracting(found).count) acknowledged events are missing from Kafka")
    }
}

extension GatewayShutdownTests {
    /// The gateway binary's environment for these tests: the test stack's broker, a producer key, no rate limit.
    static func environment(port: Int, topics: EventTopics) throws -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["STREAMREC_HTTP_PORT"] = String(port)
        environment["STREAMREC_GATEWAY_API_KEYS"] = "tests:\(producerKey)"
        environment["STREAMREC_GATEWAY_RATE_LIMIT"] = "0"
        environment["STREAMREC_TOPICS_MOVIE"] = topics.movie
        environment["STREAMREC_TOPICS_POLL"] = topics.poll
        environment["STREAMREC_KAFKA_BROKERS"] = try TestStack.kafkaBrokers().joined(separator: ",")
        environment["STREAMREC_CONFIG_DIR"] = TestStack.repositoryRoot + "/configs"
        return environment
    }

    @Test("its HTTP port already taken: exit 1 with the reason logged, not a crash")
    func portTaken() async throws {
        // Hold a listening socket on a free port for the gateway to collide with.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        #expect(bound == 0 && listen(fd, 8) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let environment = try Self.environment(port: port, topics: EventTopics(movie: "taken-movie-\(suffix)", poll: "taken-poll-\(suffix)"))

        let (exitCode, output) = try await offThePool { try TestStack.spawnAndWait([TestStack.executable("ingest-gateway")], environment: environment) }
        #expect(exitCode == 1, "\(output.suffix(2000))")
        #expect(output.contains("stopped with an error") && output.contains("Address already in use"), "\(output.suffix(2000))")
        #expect(!output.contains("crashed"), "\(output.suffix(2000))")
    }
}

final class Outcomes: Sendable {
    private let statuses = Mutex<[String: HTTPResponse.Status]>([:])
    func record(_ id: String, _ status: HTTPResponse.Status) { statuses.withLock { $0[id] = status } }
    var all: [String: HTTPResponse.Status] { statuses.withLock { $0 } }
}

final class LockedFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
