import ClientRuntime
import Foundation
import Logging
import Synchronization

/// Listens to a PostgreSQL `NOTIFY` channel on a connection of its own, served by a thread of its own
/// (libpq blocks), and reconnects with backoff whenever the connection is lost.
///
/// Notifications sent while no connection listens are lost: that is PostgreSQL's contract. So after
/// every (re)connection the handler is told ``Event/listening``, and a caller that keeps a copy of
/// something should re-read it then, which covers whatever changed while it was deaf.
///
/// ```swift
/// let listener = PostgresNotificationListener(configuration: postgres, channel: "streamrec_catalog") { event in
///     refresher.requestRefresh()
/// }
/// listener.start()
/// …
/// await listener.shutdown()
/// ```
public final class PostgresNotificationListener: Sendable {
    public enum Event: Sendable, Hashable {
        /// Listening (first connection, or again after a loss).
        case listening
        case notification(PostgresNotification)
    }

    public let configuration: PostgresConfiguration
    public let channel: String
    private let reconnectBackoff: Backoff
    /// How often the thread wakes while idle to notice ``shutdown()``.
    private let pollInterval: Duration
    private let handler: @Sendable (Event) -> Void
    private let logger: Logger
    private let state = Mutex(State())
    private let listening = Atomic<Bool>(false)

    private struct State {
        var started = false
        var stopping = false
        var finished = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    public init(
        configuration: PostgresConfiguration, channel: String, reconnectBackoff: Backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5)),
        pollInterval: Duration = .milliseconds(200), logger: Logger = Logger(label: "streamrec.postgres.listen"),
        handler: @escaping @Sendable (Event) -> Void
    ) {
        self.configuration = configuration
        self.channel = channel
        self.reconnectBackoff = reconnectBackoff
        self.pollInterval = pollInterval
        self.logger = logger
        self.handler = handler
    }

    /// Whether a connection currently listens (for readiness and tests).
    public var isListening: Bool { listening.load(ordering: .acquiring) }

    /// Starts the listening thread (once).
    public func start() {
        // `started` only when a thread is launched: shutdown() waits for a thread only if there is one.
        let launch = state.withLock { state -> Bool in
            guard !state.started, !state.stopping else { return false }
            state.started = true
            return true
        }
        guard launch else { return }
        let thread = Thread { [self] in
            run()
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.finished = true
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            waiters.forEach { $0.resume() }
        }
        thread.name = "postgres-listen"
        thread.start()
    }

    /// Stops listening and waits for the thread to close its connection (at most one poll interval, or
    /// a connection attempt's timeout).
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                state.stopping = true
                if state.finished || !state.started { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    /// A session that lived this long before failing was healthy: the backoff starts over. One that dies
    /// sooner (an idle-session timeout, a pooler that drops it) keeps backing off instead of reconnecting,
    /// and re-reading the catalog, every `initial` delay.
    private static let healthySession: Duration = .seconds(30)

    private func run() {
        var failures = 0
        while !isStopping {
            var listeningSince: ContinuousClock.Instant?
            do {
                let connection = try PostgresConnection(configuration: configuration)
                defer {
                    listening.store(false, ordering: .releasing)
                    connection.close()
                }
                try connection.listen(channel)
                listening.store(true, ordering: .releasing)
                listeningSince = .now
                if failures > 0 { logger.info("listening again", metadata: ["channel": "\(channel)"]) }
                handler(.listening)
                while !isStopping {
                    for notification in try connection.notifications(waitingUpTo: pollInterval) { handler(.notification(notification)) }
                }
            } catch {
                if let listeningSince, ContinuousClock.now - listeningSince >= Self.healthySession { failures = 0 }
                failures += 1
                if failures == 1 {
                    logger.warning("not listening; reconnecting with backoff", metadata: ["channel": "\(channel)", "error": "\(error)"])
                }
                sleepUnlessStopping(reconnectBackoff.delay(afterFailures: failures))
            }
        }
    }

    private func sleepUnlessStopping(_ delay: Duration) {
        let until = ContinuousClock.now.advanced(by: delay)
        // In short steps, so shutdown() is not held up by a long backoff.
        while !isStopping, ContinuousClock.now < until { Thread.sleep(forTimeInterval: 0.05) }
    }
}
