import NIOCore

/// A Swift task executor that runs jobs on one NIO event loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        // From the loop itself this only appends to its task queue; from another thread (a client's
        // thread resuming a continuation) it also wakes the loop.
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
