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

    /// A final text frame with `text`.
    static func textFrame(_ text: String) -> ByteBuffer {
        frame(.text, ByteBuffer(string: text))
    }

    /// RFC 6455 §5.2: FIN and `opcode`, the payload length (7 bits, or 126 and 16 bits, or 127
    /// and 64 bits), no mask (a server's frames are never masked), the payload.
    static func frame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) -> ByteBuffer {
        let size = payload.readableBytes
        var b = ByteBuffer()
        b.reserveCapacity(size + 10)
        b.writeInteger(UInt8(0x80) | UInt8(webSocketOpcode: opcode))
        if size < 126 {
            b.writeInteger(UInt8(size))
        } else if size <= Int(UInt16.max) {
            b.writeInteger(UInt8(126))
            b.writeInteger(UInt16(size))
        } else {
            b.writeInteger(UInt8(127))
            b.writeInteger(UInt64(size))
        }
        b.writeImmutableBuffer(payload)
        return b
    }
}

/// One WebSocket session's outbound messages, written straight from its connection's event
/// loop: the endpoint hands every batch of encoded frames to each loop once, and there each
/// session writes what is for it in one write and one flush, through its `WebSocketWire`.
/// Acks, presence notices and resumes go through the same wire, in the order they are sent.
///
/// Its buffer is the connection's outbound buffer (`bufferBytes`); when that is full the policy
/// decides, as for SSE: `disconnect` closes the connection, `dropNewest`/`dropOldest` skip the
/// batch (counted), `block` makes the endpoint wait.
///
/// - Important: Everything but the counters is touched only on `channel.eventLoop`.
final class WSSubscriber: LoopMember, @unchecked Sendable {
    let id: UInt64
    let channel: any Channel
    let room: String?
    let viewer: Viewer
    let policy: TapPolicy
    /// The most live messages held while a resume is written.
    let pendingLimit: Int
    /// The connection's WebSocket side.
    let wire: WebSocketWire
    private let deliveredCount = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)

    // Event-loop state.
    private var live = false
    private var ended = false
    private var onEnd: (() -> Void)?
    private var pending: [WSEvent] = []
    private var skipping = Set<MessageID>()
    private var writable: EventLoopPromise<Void>?

    init(id: UInt64, channel: any Channel, wire: WebSocketWire, room: String?, viewer: Viewer, policy: TapPolicy, pendingLimit: Int) {
        self.id = id
        self.channel = channel
        self.wire = wire
        self.room = room
        self.viewer = viewer
        self.policy = policy
        self.pendingLimit = pendingLimit
        wire.onWritable = { [weak self] in
            guard let self, let promise = writable else { return }
            writable = nil
            promise.succeed()
        }
        // A close frame either way, or the connection's end, ends the live side.
        wire.onEnd = { [weak self] in self?.finish() }
    }

    var delivered: Int { deliveredCount.load(ordering: .relaxed) }
    var dropped: Int { droppedCount.load(ordering: .relaxed) }

    /// After the resume (if any) went out: writes what came meanwhile, then everything as it
    /// comes. `skipping` are the ids the resume held (the live side may have them too).
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
        guard let bytes = batch.bytes else { return nil }
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
        wire.send(bytes)
        deliveredCount.add(count, ordering: .relaxed)
        if policy == .block, !channel.isWritable {
            let promise = writable ?? channel.eventLoop.makePromise()
            writable = promise
            return promise.futureResult
        }
        return nil
    }

    /// A keep-alive ping (see `WebSocketWire.ping`).
    func ping() {
        channel.eventLoop.assertInEventLoop()
        wire.ping()
    }

    /// A client too slow for its buffer (or for what is held while it resumes): `disconnect`
    /// and `block` close the connection, the drop policies skip (counted).
    private func overflow(_ count: Int) {
        droppedCount.add(count, ordering: .relaxed)
        pending = []
        guard policy == .disconnect || policy == .block else { return }
        finish()
        channel.close(promise: nil)
    }

    /// Ends the session: a close frame (1000) goes out and the connection closes once the
    /// client answers (see `WebSocketWire.close`).
    func end() {
        channel.eventLoop.assertInEventLoop()
        wire.close()
        finish()
    }

    /// Nothing more is written by the live side; `whenEnded` runs.
    private func finish() {
        guard !ended else { return }
        ended = true
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
