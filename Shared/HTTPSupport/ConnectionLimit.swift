import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Caps the connections one server holds open: one past the limit is closed as soon as it is accepted,
/// so a flood of idle or slow connections cannot exhaust file descriptors and memory.
final class ConnectionLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    /// Open connections of one server, shared by its connections' handlers.
    final class Counter: Sendable {
        let maximum: Int
        let open = Atomic<Int>(0)
        init(maximum: Int) { self.maximum = maximum }
    }

    private let counter: Counter
    private var counted = false

    init(counter: Counter) {
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let now = counter.open.wrappingAdd(1, ordering: .relaxed).newValue
        counted = true
        if now > counter.maximum { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if counted {
            counter.open.wrappingSubtract(1, ordering: .relaxed)
            counted = false
        }
    }
}
