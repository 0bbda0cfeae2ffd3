import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Added by the connection guard when a request asks for a WebSocket upgrade. When the
/// upgrade completes (before any buffered frame is delivered) it puts a `FrameMaskCheck`
/// right after the frame decoder and leaves.
final class UpgradeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let upgrade = event as? HTTPServerUpgradeEvents, case .upgradeComplete = upgrade {
            let ops = context.pipeline.syncOperations
            if let decoder = try? ops.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self) {
                try? ops.addHandler(FrameMaskCheck(), position: .after(decoder))
            }
            ops.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// RFC 6455 §5.1: a server must close the connection when a client frame is not masked.
/// Closes with 1002 (protocol error); the unmasked frame goes no further.
final class FrameMaskCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let frame = unwrapInboundIn(data)
        guard frame.maskKey == nil else {
            context.fireChannelRead(data)
            return
        }
        refused = true
        var payload = context.channel.allocator.buffer(capacity: 2 + 32)
        payload.write(webSocketErrorCode: .protocolError)
        payload.writeString("client frames must be masked")
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(close)).whenComplete { _ in channel.close(promise: nil) }
    }
}
