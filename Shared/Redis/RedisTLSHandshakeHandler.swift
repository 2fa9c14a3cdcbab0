import NIOCore
import NIOTLS

/// Tells its connection when the TLS handshake finished (or failed), so that a Redis connection counts as
/// connected only once TLS is up: a refused certificate is then a failed connect (with backoff), not a
/// connection lost after `AUTH` was queued on it.
final class RedisTLSHandshakeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) {
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { done.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Completing a completed promise does nothing: errors after the handshake go on to the lane.
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(RedisError.connectionFailed("closed during the TLS handshake"))
        context.fireChannelInactive()
    }
}
