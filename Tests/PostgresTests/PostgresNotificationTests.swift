import Foundation
import Postgres
import StackTestSupport
import Synchronization
import Testing

@Suite("PostgreSQL LISTEN/NOTIFY against a real server")
struct PostgresNotificationTests {
    /// Collects what the listener reports, for polling from the test.
    final class Received: Sendable {
        let events = Mutex<[PostgresNotificationListener.Event]>([])

        func wait(until condition: ([PostgresNotificationListener.Event]) -> Bool) async throws -> Bool {
            for _ in 0..<100 {
                if events.withLock({ condition($0) }) { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }
    }

    @Test("notifications arrive with their payload; a killed session is replaced and says so")
    func receivesAndReconnects() async throws {
        let configuration = try TestStack.postgresConfiguration()
        let client = PostgresClient(configuration: configuration)
        let channel = TestStack.uniqueName("channel")
        let received = Received()
        let listener = PostgresNotificationListener(
            configuration: configuration, channel: channel, reconnectBackoff: .init(initial: .milliseconds(20), maximum: .milliseconds(100)),
            pollInterval: .milliseconds(50)
        ) { event in received.events.withLock { $0.append(event) } }
        listener.start()
        #expect(try await received.wait { $0 == [.listening] }, "the listener never said it was listening")

        // Sent by another session, with a payload that needs quoting: it arrives verbatim.
        let payload = "public.movies'; \"x\""
        try await client.query("SELECT pg_notify(\(channel), \(payload))")
        try await client.query("SELECT pg_notify(\(channel + "-other"), 'not ours')")
        #expect(try await received.wait { $0.count == 2 })
        guard case .notification(let notification)? = received.events.withLock({ $0.last }) else {
            Issue.record("expected a notification, got \(received.events.withLock { $0 })")
            return
        }
        #expect(notification.channel == channel)
        #expect(notification.payload == payload)
        #expect(notification.senderProcessID > 0)

        // The server ends the listening session (as on a restart or failover): the listener reconnects,
        // reports `.listening` again (anything sent meanwhile was lost) and receives what comes after.
        let terminated = try await client.query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = \("LISTEN \"" + channel + "\"")
            """)
        #expect(terminated.count == 1, "exactly the listener's session is terminated")
        #expect(try await received.wait { $0.filter { $0 == .listening }.count == 2 }, "no second .listening after the session was killed")
        try await client.query("SELECT pg_notify(\(channel), 'after')")
        #expect(try await received.wait { events in
            guard case .notification(let last)? = events.last else { return false }
            return last.channel == channel && last.payload == "after"
        })
        #expect(listener.isListening)

        await listener.shutdown()
        #expect(!listener.isListening)
        await client.shutdown()
    }

    @Test("no server: the listener keeps retrying without reporting .listening, and shuts down promptly")
    func noServer() async throws {
        var configuration = try TestStack.postgresConfiguration()
        configuration.port = TestStack.freePort()
        let received = Received()
        let listener = PostgresNotificationListener(
            configuration: configuration, channel: "nobody", reconnectBackoff: .init(initial: .seconds(30), maximum: .seconds(30))
        ) { event in received.events.withLock { $0.append(event) } }
        listener.start()
        try await Task.sleep(for: .milliseconds(300))
        #expect(!listener.isListening)
        // The first attempt failed at once; the listener now sleeps a 30 s backoff. Shutdown must not wait
        // for it (a bound far from both, so that a busy machine does not decide).
        let stopping = ContinuousClock.now
        await listener.shutdown()
        #expect(ContinuousClock.now - stopping < .seconds(15), "shutdown waited for the whole backoff")
        #expect(received.events.withLock { $0.isEmpty })
    }
}
