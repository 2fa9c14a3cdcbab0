import Synchronization

/// Batches are prepared one at a time (``EventBatchProcessor/prepare(_:now:logEnds:topicIDs:after:)``): the
/// next batch's preparation and the retry of a batch that failed to finish take turns, first come first served.
/// An async lock: a task waiting for its turn is suspended, never blocking a thread.
final class PreparationTurn: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Runs `body` once no other body of this turn runs.
    func run<Result: Sendable>(_ body: () async -> Result) async -> Result {
        await acquire()
        defer { release() }
        return await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                guard state.busy else {
                    state.busy = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func release() {
        // The turn passes straight to the first waiter (busy stays set), so nobody can overtake it.
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.busy = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
