import ClientRuntime
import ServiceLifecycle

/// A batch is retried, never skipped, while a dependency fails: `attempt` runs until it succeeds, with
/// `backoff` between failures, or until graceful shutdown or cancellation (then nil: the batch is left
/// uncommitted for the next owner; SIGTERM ends a wait at once). Both of the processor's consumers (features,
/// outcomes) apply their batches through it.
/// - Parameters:
///   - failed: after each failure, with the number of failures so far and the error.
///   - recovered: after a success that followed failures, with the number of attempts.
func retryUntilShutdown<Result: Sendable>(
    backoff: Backoff, failed: (Int, any Error) -> Void, recovered: (Int) -> Void, _ attempt: () async throws -> Result
) async -> Result? {
    var failures = 0
    while true {
        do {
            let result = try await attempt()
            if failures > 0 { recovered(failures + 1) }
            return result
        } catch {
            failures += 1
            failed(failures, error)
            if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
            let delay = backoff.delay(afterFailures: failures)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
        }
    }
}
