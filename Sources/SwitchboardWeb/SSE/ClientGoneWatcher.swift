import NIOCore

/// Tells a streaming response that its client went away.
///
/// Hummingbird allows remote half-closure, so a client that hangs up only half-closes the
/// connection and `closeFuture` would fire at the next write (the next heartbeat). This
/// handler, put at the front of the pipeline, sees the hang-up at once.
final class ClientGoneWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    private let gone: @Sendable () -> Void
    private let writable: @Sendable () -> Void

    init(_ gone: @escaping @Sendable () -> Void, writable: @escaping @Sendable () -> Void) {
        self.gone = gone
        self.writable = writable
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writable() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { gone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone()
        context.fireChannelInactive()
    }

    /// Watches `channel` until the returned closure is called: `gone` when the client hangs
    /// up, `writable` when a full connection can take more. Both run on the channel's loop.
    /// The watcher is first in the pipeline, so its context writes bytes straight to the socket.
    static func watch(_ channel: any Channel, gone: @escaping @Sendable () -> Void,
                      writable: @escaping @Sendable () -> Void = {}) -> (ClientGoneWatcher, @Sendable () -> Void) {
        let watcher = ClientGoneWatcher(gone, writable: writable)
        channel.pipeline.addHandler(watcher, position: .first).whenFailure { _ in gone() }
        channel.closeFuture.whenComplete { _ in gone() }
        return (watcher, { channel.pipeline.removeHandler(watcher, promise: nil) })
    }
}
