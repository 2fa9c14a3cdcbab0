import Foundation

/// Runs synchronous work that blocks or takes long (CPU-heavy training, reading and hashing a model
/// artifact, closing a librdkafka handle) on a new thread of its own, and resumes the caller when it is
/// done, so neither a NIO event loop nor the Swift cooperative pool (two threads on this machine) is held
/// meanwhile. For many short blocking calls, a ``BlockingExecutor`` keeps its threads instead.
public func onDedicatedThread<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: work()) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
