import NIOPosix

/// Runs blocking C calls (hiredis, libpq) on dedicated threads, never on a NIO event loop or on the
/// Swift concurrency cooperative pool, and exposes them as `async` functions.
///
/// One executor per client, sized to the client's connection pool, so a leased connection always
/// finds a thread and a slow query on one client cannot starve another client's calls.
public final class BlockingExecutor: Sendable {
    private let threadPool: NIOThreadPool

    public init(threads: Int) {
        precondition(threads > 0, "an executor needs a thread")
        threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
    }

    /// Runs `work` on one of the executor's threads and returns its result.
    public func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await threadPool.runIfActive(work)
    }

    /// Stops the threads once queued work has finished.
    public func shutdown() async {
        try? await threadPool.shutdownGracefully()
    }

    deinit {
        // An owner that never called shutdown() must not leave running threads (NIO asserts on it).
        threadPool.shutdownGracefully { _ in }
    }
}
