import NIOCore
import NIOWebSocket
import Switchboard
import SwitchboardChannels
import Synchronization

/// One message as every WebSocket session gets it: encoded once, as a ready-made server frame.
struct WSEvent: Sendable {
    let id: MessageID
    /// The room the message belongs to.
    let room: String
    /// Sender and recipient of a private message, which only they see.
    let parties: Parties?
    /// The whole frame (a final, unmasked text frame): what a live session writes straight to
    /// its socket, past the WebSocket frame encoder.
    let frame: ByteBuffer

    init(_ message: Message, text: String, defaultRoom: String) {
        id = message.id
        room = message.room ?? defaultRoom
        parties = Parties(message)
        frame = Self.textFrame(text)
    }

    /// RFC 6455 §5.2: FIN and the text opcode, the payload length (7 bits, or 126 and 16 bits,
    /// or 127 and 64 bits), no mask (a server's frames are never masked), the payload.
    static func textFrame(_ text: String) -> ByteBuffer {
        let size = text.utf8.count
        var b = ByteBuffer()
        b.reserveCapacity(size + 10)
        b.writeInteger(UInt8(0x81))
        if size < 126 {
            b.writeInteger(UInt8(size))
        } else if size <= Int(UInt16.max) {
            b.writeInteger(UInt8(126))
            b.writeInteger(UInt16(size))
        } else {
            b.writeInteger(UInt8(127))
            b.writeInteger(UInt64(size))
        }
        b.writeString(text)
        return b
    }
}

/// One WebSocket session's outbound messages, written straight from its connection's event
/// loop: the endpoint hands every batch of encoded frames to each loop once, and there each
/// session writes what is for it in one write and one flush, at the context of the frame
/// encoder (past it: the frames are ready-made). Acks, presence notices, resumes and the
/// WebSocket layer's own frames (ping, close) still go through the session's writer.
///
/// It sits in the pipeline right after the frame encoder, where it sees the frames the
/// WebSocket layer writes: once a close frame goes out, nothing more is written (RFC 6455
/// §5.5.1). Its buffer is the connection's outbound buffer (`bufferBytes`); when that is full
/// the policy decides, as for SSE: `disconnect` closes the connection, `dropNewest`/`dropOldest`
/// skip the batch (counted), `block` makes the endpoint wait.
///
/// - Important: Everything but the counters is touched only on `channel.eventLoop`.
final class WSSubscriber: ChannelDuplexHandler, RemovableChannelHandler, LoopMember, @unchecked Sendable {
    /// Between the encoder and the decoder, the bytes read pass by untouched.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let id: UInt64
    let channel: any Channel
    let room: String?
    let viewer: Viewer
    let policy: TapPolicy
    /// The most live messages held while a resume is written.
    let pendingLimit: Int
    private let deliveredCount = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)

    // Event-loop state.
    private var live = false
    private var ended = false
    private var onEnd: (() -> Void)?
    private var pending: [WSEvent] = []
    private var skipping = Set<MessageID>()
    private var writable: EventLoopPromise<Void>?
    /// The frame encoder's context: bytes written there go straight to the socket.
    private var socket: ChannelHandlerContext?

    init(id: UInt64, channel: any Channel, room: String?, viewer: Viewer, policy: TapPolicy, pendingLimit: Int) {
        self.id = id
        self.channel = channel
        self.room = room
        self.viewer = viewer
        self.policy = policy
        self.pendingLimit = pendingLimit
    }

    var delivered: Int { deliveredCount.load(ordering: .relaxed) }
    var dropped: Int { droppedCount.load(ordering: .relaxed) }

    /// Puts the subscriber after the connection's frame encoder; false when the connection is
    /// gone (or is no WebSocket).
    func install() -> Bool {
        channel.eventLoop.assertInEventLoop()
        let ops = channel.pipeline.syncOperations
        guard channel.isActive, let encoder = try? ops.context(handlerType: WebSocketFrameEncoder.self),
              (try? ops.addHandler(self, position: .after(encoder.handler))) != nil
        else { return false }
        socket = encoder
        return true
    }

    // MARK: The WebSocket layer's frames

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if unwrapOutboundIn(data).opcode == .connectionClose { end() }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let promise = writable {
            writable = nil
            promise.succeed()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    // MARK: The endpoint's side

    /// After the resume (if any) went out through the session's writer: writes what came
    /// meanwhile, then everything as it comes. `skipping` are the ids the resume held (the
    /// live side may have them too).
    func goLive(skipping ids: Set<MessageID>) {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        skipping = ids
        live = true
        let queued = pending
        pending = []
        _ = deliver(queued)
    }

    /// Writes the messages meant for this session; returns a future to wait on when the
    /// `block` policy must hold the endpoint back.
    func deliver(_ events: [WSEvent]) -> EventLoopFuture<Void>? {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return nil }
        guard live else {
            pending.append(contentsOf: events.lazy.filter(matches))
            if pending.count > pendingLimit { overflow(pending.count) }
            return nil
        }
        var batch = BatchBytes()
        for e in events where matches(e) {
            if !skipping.isEmpty, skipping.remove(e.id) != nil { continue }
            batch.append(e.frame, allocator: channel.allocator)
        }
        let count = batch.count
        guard let bytes = batch.bytes, let socket else { return nil }
        if !channel.isWritable {
            switch policy {
            case .disconnect:
                overflow(count)
                return nil
            case .dropNewest, .dropOldest:
                droppedCount.add(count, ordering: .relaxed)
                return nil
            case .block:
                break  // write anyway; the endpoint waits below
            }
        }
        socket.writeAndFlush(NIOAny(bytes), promise: nil)
        deliveredCount.add(count, ordering: .relaxed)
        if policy == .block, !channel.isWritable {
            let promise = writable ?? channel.eventLoop.makePromise()
            writable = promise
            return promise.futureResult
        }
        return nil
    }

    /// A client too slow for its buffer (or for what is held while it resumes): `disconnect`
    /// and `block` close the connection, the drop policies skip (counted).
    private func overflow(_ count: Int) {
        droppedCount.add(count, ordering: .relaxed)
        pending = []
        guard policy == .disconnect || policy == .block else { return }
        end()
        channel.close(promise: nil)
    }

    /// Ends the session's live side: nothing more is written, and the session ends.
    func end() {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        ended = true
        socket = nil
        pending = []
        writable?.succeed()
        writable = nil
        let after = onEnd
        onEnd = nil
        after?()
    }

    /// Runs `body` when the live side is over (at once if it is).
    func whenEnded(_ body: @escaping () -> Void) {
        channel.eventLoop.assertInEventLoop()
        if ended { body() } else { onEnd = body }
    }

    func matches(_ e: WSEvent) -> Bool {
        (room == nil || e.room == room) && viewer.sees(room: e.room, parties: e.parties)
    }
}
