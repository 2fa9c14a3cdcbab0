import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Closes a connection that takes longer than `timeout` to deliver a whole request, head and body.
///
/// The idle timeout alone does not bound a slow-loris client: one byte every few seconds keeps a
/// connection and its partial body alive indefinitely. The clock runs while the connection waits for or
/// reads a request, and stops while a route works on one: it starts when the connection opens and again
/// when every request received so far has been answered (the time to send the next request counts, so a
/// header trickled byte by byte is bounded too). A route that answers before the body has arrived (a 429,
/// a 415) does not restart it: the rest of that body must still arrive in time. A route that takes long
/// to answer is never cut off, pipelined requests included. A kept-alive connection that sends nothing is
/// closed after `timeout` as well, as the idle timeout would.
final class RequestReadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Requests received whole, and responses written whole, on this connection.
    private var requestsEnded = 0
    private var responsesEnded = 0

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            requestsEnded += 1
            if requestsEnded > responsesEnded {
                disarm()  // a route has a whole request to work on
            } else {
                arm(context)  // answered early and now read whole: wait for the next one
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responsesEnded += 1
            // Every request answered: waiting for the next. (Answered before its body arrived: the clock
            // keeps running for that body. Pipelined requests still unanswered: it stays stopped.)
            if responsesEnded == requestsEnded { arm(context) }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        disarm()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
