import Synchronization

/// The users' writes a feature writer has prepared and not yet sent (``PreparedFeatures``), by state key,
/// and the generation that says whether a preparation still holds.
///
/// While batch n's users are written, batch n+1 is prepared from the states cached in memory. A state that
/// is not cached (never was, or dropped) is read from Redis, which is only right once every write of it
/// prepared before has landed: ``waitUntilWritten(_:)``. A write that fails leaves Redis with some of its
/// users and not others, so every preparation made before it is void: ``invalidate()`` moves the generation,
/// and a preparation of another generation is neither registered nor written.
///
/// `Sendable`: all state is behind one lock; waiters are resumed outside it.
final class PendingUserWrites: Sendable {
    private struct State {
        var generation: UInt64 = 0
        /// State key → how many registered preparations write it (two consecutive batches may both hold a user).
        var keys: [String: Int] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Registers a preparation's keys, unless the generation moved since `generation` was read (then false:
    /// the preparation is void).
    func register(_ keys: some Sequence<String>, generation: UInt64) -> Bool {
        state.withLock { state in
            guard state.generation == generation else { return false }
            for key in keys { state.keys[key, default: 0] += 1 }
            return true
        }
    }

    /// A registered preparation's keys were written (or dropped with it): readers waiting on them go on.
    func release(_ keys: some Sequence<String>, generation: UInt64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            // An invalidation since the registration dropped every key already.
            guard state.generation == generation else { return [] }
            for key in keys {
                guard let count = state.keys[key] else { continue }
                state.keys[key] = count > 1 ? count - 1 : nil
            }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Voids every preparation registered or in progress (a write failed), and lets waiting readers go on.
    func invalidate() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            state.keys.removeAll()
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once none of `keys` has a registered write pending (at once if none has).
    func waitUntilWritten(_ keys: [String]) async {
        while true {
            let pending = state.withLock { state in keys.contains { state.keys[$0] != nil } }
            guard pending else { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    // Checked again under the lock: a release between the check above and here would
                    // otherwise never resume this waiter.
                    guard keys.contains(where: { state.keys[$0] != nil }) else { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }
}
