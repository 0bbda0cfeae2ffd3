import NIOCore
import NIOWebSocket

/// A whole message a client sent (its fragments joined; text checked to be UTF-8).
package enum WSInbound: Sendable {
    case text(String)
    case binary(ByteBuffer)
}

/// RFC 6455 on one connection after its handshake, on its event loop and with no task: joins
/// fragments into messages (at most `maxMessageSize`), checks that text is UTF-8 and that
/// client frames are masked, answers pings, runs the closing handshake and the keep-alive
/// pings, and writes what the session sends as ready-made frames straight to the socket.
///
/// It follows NIO's frame decoder; nothing follows it. A protocol error fails the connection
/// (RFC 6455 §7.1.7): a close frame with the error's code, then the TCP connection closes. A
/// close the server starts (`close`) waits up to `closeTimeout` for the client's close frame.
///
/// - Important: Everything runs on the connection's event loop; the session's callbacks too.
package final class WebSocketWire: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    package typealias InboundIn = WebSocketFrame

    private enum State {
        case open
        /// The client's close frame came in; the session's answers to what came before it
        /// still go out (`beforeClose`), then the close frame with this code.
        case answering(WebSocketErrorCode)
        /// A close frame went out; waiting for the client's.
        case closing
        case closed
    }

    private let maxMessageSize: Int
    private let closeTimeout: TimeAmount
    private var state = State.open
    private var context: ChannelHandlerContext?
    /// The message being joined from fragments, and whether it is text.
    private var fragments: ByteBuffer?
    private var fragmentsAreText = false
    /// The payload of the keep-alive ping not answered yet.
    private var unanswered: UInt64?
    private var pings: UInt64 = 0
    private var closeTimer: Scheduled<Void>?

    /// Each whole message, in order.
    package var onMessage: (WSInbound) -> Void = { _ in }
    /// The connection can take more again (after its outbound buffer filled).
    package var onWritable: () -> Void = {}
    /// Runs once when the session is over: a close frame went out or came in, or the
    /// connection ended. Once a close frame went out, nothing more is written.
    package var onEnd: () -> Void = {}
    /// Given the client's close frame, calls its argument (on the loop) once the session has
    /// answered the messages that came before it; the answering close frame goes out then.
    package var beforeClose: (@escaping () -> Void) -> Void = { $0() }
    /// The code the wire failed the connection with (a client's protocol error), if it did.
    package private(set) var failure: WebSocketErrorCode?

    /// The connection's event loop, where everything of the wire runs.
    package let eventLoop: any EventLoop

    package init(eventLoop: any EventLoop, maxMessageSize: Int, closeTimeout: TimeAmount = .seconds(15)) {
        self.eventLoop = eventLoop
        self.maxMessageSize = maxMessageSize
        self.closeTimeout = closeTimeout
    }

    /// Whether messages may still be sent.
    package var isOpen: Bool {
        switch state {
        case .open, .answering: return context != nil
        case .closing, .closed: return false
        }
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        closeTimer?.cancel()
        self.context = nil
    }

    // MARK: Sending

    /// Writes ready-made frames (see `WSEvent.frame`) and flushes them, unless the session is over.
    package func send(_ frames: ByteBuffer) {
        guard isOpen, let context else { return }
        context.writeAndFlush(NIOAny(frames), promise: nil)
    }

    /// `send`, with a future that completes once the socket took the frames (failed when the
    /// session is over).
    func write(_ frames: ByteBuffer) -> EventLoopFuture<Void> {
        guard isOpen, let context else {
            return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        return context.writeAndFlush(NIOAny(frames))
    }

    /// Sends a text message.
    package func send(text: String) {
        send(WSEvent.frame(.text, ByteBuffer(string: text)))
    }

    /// Starts the closing handshake: a close frame with `code`, then the connection closes
    /// when the client answers with its own, or after `closeTimeout`.
    package func close(_ code: WebSocketErrorCode = .normalClosure, reason: String? = nil) {
        guard case .open = state, let context else { return }
        writeClose(code, reason, context)
        state = .closing
        let channel = context.channel
        closeTimer = context.eventLoop.scheduleTask(in: closeTimeout) { channel.close(promise: nil) }
        end()
    }

    /// A keep-alive ping; when the one before was never answered, the client is gone or stuck
    /// and the connection closes (1001).
    package func ping() {
        guard case .open = state, let context else { return }
        if unanswered != nil {
            fail(.goingAway, "no answer to a ping", context)
            return
        }
        pings &+= 1
        unanswered = pings
        var payload = ByteBuffer()
        payload.writeInteger(pings)
        context.writeAndFlush(NIOAny(WSEvent.frame(.ping, payload)), promise: nil)
    }

    // MARK: Receiving

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if case .closed = state { return }
        // RFC 6455 §5.1, §5.2: a client masks every frame; no extension was agreed, so no
        // reserved bit may be set.
        guard frame.maskKey != nil else { return fail(.protocolError, "client frames must be masked", context) }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { return fail(.protocolError, "reserved bits are set", context) }
        switch frame.opcode {
        case .connectionClose:
            receivedClose(frame.unmaskedData, context)
        case .ping:
            guard case .open = state else { return }  // after a close, nothing is answered
            context.writeAndFlush(NIOAny(WSEvent.frame(.pong, frame.unmaskedData)), promise: nil)
        case .pong:
            var data = frame.unmaskedData
            if let sent = unanswered, data.readInteger(as: UInt64.self) == sent { unanswered = nil }
        case .text, .binary:
            guard fragments == nil else { return fail(.protocolError, "a new message began before the last one ended", context) }
            fragmentsAreText = frame.opcode == .text
            fragments = context.channel.allocator.buffer(capacity: frame.length)
            append(frame, context)
        case .continuation:
            guard fragments != nil else { return fail(.protocolError, "a continuation frame without a message", context) }
            append(frame, context)
        default:
            fail(.protocolError, "unknown opcode", context)
        }
    }

    private func append(_ frame: WebSocketFrame, _ context: ChannelHandlerContext) {
        guard var joined = fragments else { return }
        fragments = nil
        guard joined.readableBytes + frame.length <= maxMessageSize else {
            return fail(.messageTooLarge, "a message is at most \(maxMessageSize) bytes", context)
        }
        var data = frame.unmaskedData
        joined.writeBuffer(&data)
        guard frame.fin else {
            fragments = joined
            return
        }
        // After the close handshake began, data is read and dropped (RFC 6455 §5.5.1).
        guard case .open = state else { return }
        if fragmentsAreText {
            guard let text = try? joined.readUTF8ValidatedString(length: joined.readableBytes) else {
                return fail(.dataInconsistentWithMessage, "text must be UTF-8", context)
            }
            onMessage(.text(text))
        } else {
            onMessage(.binary(joined))
        }
    }

    /// RFC 6455 §5.5.1, §7.4: a close frame has no payload, or a 2-byte code that may be sent,
    /// then UTF-8. Answered with 1000 (1002 for a bad one) once the session has answered what
    /// came before it; then the connection closes.
    private func receivedClose(_ payload: ByteBuffer, _ context: ChannelHandlerContext) {
        switch state {
        case .open:
            var p = payload
            var code = WebSocketErrorCode.normalClosure
            if p.readableBytes == 1 {
                code = .protocolError
            } else if let raw = p.readInteger(as: UInt16.self) {
                let known: Set<UInt16> = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011]
                if !(known.contains(raw) || (3000...4999).contains(raw)) || (try? p.readUTF8ValidatedString(length: p.readableBytes)) == nil {
                    code = .protocolError
                }
            }
            state = .answering(code)
            fragments = nil
            let answer = beforeClose
            end()
            answer { [self] in answerClose() }
        case .closing:
            state = .closed
            closeTimer?.cancel()
            context.close(promise: nil)
        case .answering, .closed:
            return
        }
    }

    /// The session has answered: the close frame that answers the client's, then the end.
    private func answerClose() {
        guard case .answering(let code) = state, let context else { return }
        state = .closed
        closeAfter(code, nil, context)
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with `code`, then the TCP
    /// connection closes without waiting for the client's.
    private func fail(_ code: WebSocketErrorCode, _ reason: String, _ context: ChannelHandlerContext) {
        guard case .open = state else {
            context.close(promise: nil)
            return
        }
        failure = code
        state = .closed
        closeAfter(code, reason, context)
        end()
    }

    /// Writes a close frame; the future completes once the socket took it.
    @discardableResult
    private func writeClose(_ code: WebSocketErrorCode, _ reason: String?, _ context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: code)
        if let reason { payload.writeString(reason) }
        return context.writeAndFlush(NIOAny(WSEvent.frame(.connectionClose, payload)))
    }

    /// The last frame: the connection closes once it went out.
    private func closeAfter(_ code: WebSocketErrorCode, _ reason: String?, _ context: ChannelHandlerContext) {
        let channel = context.channel
        writeClose(code, reason, context).whenComplete { _ in channel.close(promise: nil) }
    }

    /// The session is over: its callbacks run no more and are let go of (they hold what holds
    /// this wire: without this, every session would leak when its connection ends).
    private func end() {
        let after = onEnd
        onEnd = {}
        onMessage = { _ in }
        beforeClose = { $0() }
        onWritable = {}
        after()
    }

    // MARK: The connection

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error as? NIOWebSocketError {
        case .invalidFrameLength?: fail(.messageTooLarge, "a frame is too large", context)
        case .fragmentedControlFrame?, .multiByteControlFrameLength?: fail(.protocolError, "a control frame is fragmented or too long", context)
        default: context.close(promise: nil)
        }
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { onWritable() }
        context.fireChannelWritabilityChanged()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server is shutting down: say so (1001) before the connection goes.
        if event is ChannelShouldQuiesceEvent { close(.goingAway, reason: "the server is shutting down") }
        // The client stopped sending without a close frame: nothing more will come.
        if case .inputClosed? = event as? ChannelEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    package func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        closeTimer?.cancel()
        end()
        context.fireChannelInactive()
    }
}
