import HummingbirdCore
import Logging
import NIOCore

/// Runs a connection's handler, and every task it awaits, on the connection's own event loop.
///
/// Without it Hummingbird reads a request on the event loop, runs the route on the Swift cooperative
/// pool and writes the response back on the event loop: two thread hand-offs per request, each a
/// wake-up of a sleeping thread when the machine is not saturated (on the 2-core benchmark machine the
/// kernel's task switching was the largest single item of the API's profile). With a task executor
/// preference the handler stays on the thread that owns the socket, and with Redis I/O on the same loop
/// (`redis.io = event_loops`) a request never leaves it. Routes never make blocking calls themselves:
/// libpq (and hiredis, in the thread lanes) run on their clients' own threads, so an event loop is not
/// blocked; CPU work (fold-in, scoring: tens of microseconds) runs inline, as it would on the pool.
/// The cost: a connection's requests stay on the core whose loop accepted it.
struct EventLoopPinnedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}
