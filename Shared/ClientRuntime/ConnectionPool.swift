import Synchronization

/// A connection that a ``ConnectionPool`` can hand out.
///
/// Implementations wrap one blocking C connection (hiredis, libpq). The pool guarantees that a
/// connection is used by one task at a time, which is why they may be `@unchecked Sendable`.
public protocol PooledConnection: AnyObject, Sendable {
    /// A cheap check (no round trip) that the connection can still be used; a broken or
    /// server-closed connection says `false` and is closed instead of handed out.
    var isUsable: Bool { get }
    /// Releases the underlying resources. Called once, never concurrently with other use.
    func close()
}

/// How a pool grows, waits and reconnects.
public struct ConnectionPoolConfiguration: Sendable, Hashable {
    /// The most connections open at once. Callers beyond this wait for a free one.
    public var maximumConnections: Int
    /// How long `withConnection` waits for a free connection before throwing
    /// ``ConnectionPoolError/acquireTimedOut``.
    public var acquireTimeout: Duration
    /// Reconnection pacing after failed connection attempts.
    public var reconnectBackoff: Backoff

    public init(maximumConnections: Int = 8, acquireTimeout: Duration = .seconds(5), reconnectBackoff: Backoff = .init()) {
        precondition(maximumConnections > 0, "a pool needs at least one connection")
        self.maximumConnections = maximumConnections
        self.acquireTimeout = acquireTimeout
        self.reconnectBackoff = reconnectBackoff
    }
}

public enum ConnectionPoolError: Error, Hashable, Sendable {
    /// No connection became free within ``ConnectionPoolConfiguration/acquireTimeout``.
    case acquireTimedOut
    /// The pool was shut down.
    case shutDown
}

/// A bounded pool of blocking connections.
///
/// The pool itself never blocks a thread: waiting callers are suspended continuations, and
/// connections are created by the `connect` closure (which is expected to hop to a thread pool).
/// After a failed connect, the next attempt waits for an exponential backoff, so a dead server is
/// not hammered; the caller of the failed attempt gets the connect error at once.
public final class ConnectionPool<Connection: PooledConnection>: Sendable {
    public typealias Connect = @Sendable () async throws -> Connection

    private enum Grant: Sendable {
        case connection(Connection)
        /// A slot was freed (a broken connection closed, or a connect failed): the waiter may open one.
        case openSlot
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        var idle: [Connection] = []
        var openCount = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var isShutDown = false
        var consecutiveConnectFailures = 0
        var nextConnectAllowedAt: ContinuousClock.Instant?
    }

    public let configuration: ConnectionPoolConfiguration
    private let connect: Connect
    private let state = Mutex(State())

    public init(configuration: ConnectionPoolConfiguration, connect: @escaping Connect) {
        self.configuration = configuration
        self.connect = connect
    }

    /// Connections currently open (idle or leased).
    public var openConnections: Int { state.withLock { $0.openCount } }

    /// Leases a connection for the duration of `body`. A connection that `body` left unusable
    /// (``PooledConnection/isUsable`` is false) is closed rather than returned.
    public func withConnection<Result>(
        _ body: (Connection) async throws -> Result
    ) async throws -> Result {
        let connection = try await acquire()
        do {
            let result = try await body(connection)
            release(connection)
            return result
        } catch {
            release(connection)
            throw error
        }
    }

    /// Closes idle connections and fails waiters. Leased connections are closed when returned.
    public func shutdown() {
        let (idle, waiters) = state.withLock { state -> ([Connection], [Waiter]) in
            state.isShutDown = true
            let idle = state.idle
            let waiters = state.waiters
            state.openCount -= idle.count
            state.idle.removeAll()
            state.waiters.removeAll()
            return (idle, waiters)
        }
        idle.forEach { $0.close() }
        waiters.forEach { $0.continuation.resume(throwing: ConnectionPoolError.shutDown) }
    }

    // MARK: - Leasing

    private enum Decision {
        case use(Connection)
        case open
        case wait
        case shutDown
    }

    private func acquire() async throws -> Connection {
        let deadline = ContinuousClock.now.advanced(by: configuration.acquireTimeout)
        while true {
            let decision = state.withLock { state -> Decision in
                if state.isShutDown { return .shutDown }
                if let connection = state.idle.popLast() { return .use(connection) }
                if state.openCount < configuration.maximumConnections {
                    state.openCount += 1
                    return .open
                }
                return .wait
            }
            switch decision {
            case .shutDown:
                throw ConnectionPoolError.shutDown
            case .use(let connection):
                if connection.isUsable { return connection }
                discard(connection)
            case .open:
                return try await openConnection(deadline: deadline)
            case .wait:
                switch try await waitForGrant(deadline: deadline) {
                case .connection(let connection):
                    if connection.isUsable { return connection }
                    discard(connection)
                case .openSlot:
                    continue
                }
            }
        }
    }

    /// Opens a new connection in a slot already counted in `openCount`.
    private func openConnection(deadline: ContinuousClock.Instant) async throws -> Connection {
        let notBefore = state.withLock { $0.nextConnectAllowedAt }
        do {
            if let notBefore, notBefore > .now {
                // Back off, but never past the caller's own deadline.
                try await Task.sleep(until: min(notBefore, deadline), clock: .continuous)
                if notBefore > deadline { throw ConnectionPoolError.acquireTimedOut }
            }
            let connection = try await connect()
            state.withLock {
                $0.consecutiveConnectFailures = 0
                $0.nextConnectAllowedAt = nil
            }
            return connection
        } catch {
            let waiter = state.withLock { state -> Waiter? in
                state.openCount -= 1
                state.consecutiveConnectFailures += 1
                let delay = configuration.reconnectBackoff.delay(afterFailures: state.consecutiveConnectFailures)
                state.nextConnectAllowedAt = .now.advanced(by: delay)
                return state.waiters.isEmpty ? nil : state.waiters.removeFirst()
            }
            waiter?.continuation.resume(returning: .openSlot)
            throw error
        }
    }

    private func waitForGrant(deadline: ContinuousClock.Instant) async throws -> Grant {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let timeout = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            self.failWaiter(id, with: ConnectionPoolError.acquireTimedOut)
        }
        defer { timeout.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // The timeout task or the cancellation handler may already have run (and found nothing to
                // fail): check both here, under the lock, instead of registering a waiter nobody will end.
                let refusal = state.withLock { state -> (any Error)? in
                    if state.isShutDown { return ConnectionPoolError.shutDown }
                    if Task.isCancelled { return CancellationError() }
                    if ContinuousClock.now >= deadline { return ConnectionPoolError.acquireTimedOut }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let refusal { continuation.resume(throwing: refusal) }
            }
        } onCancel: {
            self.failWaiter(id, with: CancellationError())
        }
    }

    private func failWaiter(_ id: UInt64, with error: any Error) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    private func release(_ connection: Connection) {
        guard connection.isUsable else {
            discard(connection)
            return
        }
        let (waiter, closeIt) = state.withLock { state -> (Waiter?, Bool) in
            if state.isShutDown {
                state.openCount -= 1
                return (nil, true)
            }
            if !state.waiters.isEmpty { return (state.waiters.removeFirst(), false) }
            state.idle.append(connection)
            return (nil, false)
        }
        if closeIt { connection.close() }
        waiter?.continuation.resume(returning: .connection(connection))
    }

    private func discard(_ connection: Connection) {
        connection.close()
        let waiter = state.withLock { state -> Waiter? in
            state.openCount -= 1
            return state.waiters.isEmpty ? nil : state.waiters.removeFirst()
        }
        waiter?.continuation.resume(returning: .openSlot)
    }
}
