import NIOCore

/// Tells a streaming response that its client went away.
///
/// Hummingbird allows remote half-closure, so a client that hangs up only half-closes the
/// connection and `closeFuture` would fire at the next write (the next heartbeat). This
/// handler, put at the front of the pipeline, sees the hang-up at once.
final class ClientGoneWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    private let gone: @Sendable () -> Void

    init(_ gone: @escaping @Sendable () -> Void) {
        self.gone = gone
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { gone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone()
        context.fireChannelInactive()
    }

    /// Watches `channel` until the returned closure is called.
    static func watch(_ channel: any Channel, gone: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let watcher = ClientGoneWatcher(gone)
        channel.pipeline.addHandler(watcher, position: .first).whenFailure { _ in gone() }
        channel.closeFuture.whenComplete { _ in gone() }
        return { channel.pipeline.removeHandler(watcher, promise: nil) }
    }
}
