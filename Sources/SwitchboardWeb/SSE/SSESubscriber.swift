import NIOCore
import Switchboard
import SwitchboardChannels
import Synchronization

/// One SSE client, written to straight from its connection's event loop.
///
/// The endpoint hands every batch of encoded events to each connection's event loop once;
/// there each subscriber writes what is for it in one write and one flush. Once live it writes
/// the events' ready-made HTTP chunks at the front of the pipeline (the context of the
/// `ClientGoneWatcher`, first after the socket), past the HTTP handlers, whose only work on a
/// body part would be the same chunk framing: the response's head and end still go through
/// them, before and after. Its buffer is the
/// connection's outbound buffer (NIO's write watermark, `bufferBytes`); when that is full the
/// subscriber's policy decides: `disconnect` closes the connection (the client resumes with
/// `Last-Event-ID`), `dropNewest`/`dropOldest` skip the batch (counted), `block` makes the
/// endpoint wait until the client catches up.
///
/// - Important: Everything but the counters is touched only on `channel.eventLoop` (asserted
///   in debug builds).
final class SSESubscriber: @unchecked Sendable {
    let id: UInt64
    let channel: any Channel
    let room: String?
    /// Who reads: the rooms and private messages they may see.
    let viewer: Viewer
    let policy: TapPolicy
    let since = ContinuousClock.now
    private let deliveredCount = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)
    private let disconnectedFlag = Atomic<Bool>(false)

    // Event-loop state.
    private var live = false
    private var ended = false
    /// Runs when the stream is over (client gone, endpoint stopped, disconnected).
    private var onEnd: (() -> Void)?
    /// Body bytes written at the front (for the access log).
    private(set) var rawBytes = 0
    private var pending: [SSEEvent] = []
    private var pendingBytes = 0
    /// The most bytes of live events held for a subscriber whose replay is still going out.
    let pendingLimit: Int
    private var overlap = Set<MessageID>()
    private var writable: EventLoopPromise<Void>?
    /// Where live events are written: the front of the pipeline.
    private var socket: ChannelHandlerContext?

    init(id: UInt64, channel: any Channel, room: String?, viewer: Viewer, policy: TapPolicy, pendingLimit: Int = 262_144) {
        self.id = id
        self.viewer = viewer
        self.pendingLimit = pendingLimit
        self.channel = channel
        self.room = room
        self.policy = policy
    }

    var delivered: Int { deliveredCount.load(ordering: .relaxed) }
    var dropped: Int { droppedCount.load(ordering: .relaxed) }
    var isDisconnected: Bool { disconnectedFlag.load(ordering: .relaxed) }

    /// After the first chunk (retry, replay) went out: writes what came meanwhile, then
    /// everything as it comes. `replayed` are the ids the replay held (the live side may have
    /// them too, as a prefix).
    /// `front` is where bytes go straight to the socket (nil: the connection is gone).
    func goLive(replayed: Set<MessageID>, front: ChannelHandlerContext?) {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        guard let front else {
            end()  // the pipeline is torn down: the client is gone
            return
        }
        socket = front
        overlap = replayed
        live = true
        let queued = pending
        pending = []
        pendingBytes = 0
        _ = deliver(queued)
    }

    /// Writes the events meant for this subscriber; returns a future to wait on when the
    /// `block` policy must hold the endpoint back.
    func deliver(_ events: [SSEEvent]) -> EventLoopFuture<Void>? {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return nil }
        guard live else {
            // Live events wait while the replay is written; past the connection's buffer
            // size they are the slow-consumer policy's to handle, not memory's to hold.
            for e in events where matches(e) {
                pendingBytes += e.bytes.readableBytes
                pending.append(e)
            }
            if pendingBytes > pendingLimit {
                droppedCount.add(pending.count, ordering: .relaxed)
                pending = []
                pendingBytes = 0
                if policy == .disconnect || policy == .block {
                    disconnectedFlag.store(true, ordering: .relaxed)
                    end()
                    channel.close(promise: nil)
                }
            }
            return nil
        }
        var batch = BatchBytes()
        for e in events where matches(e) {
            if !overlap.isEmpty, let id = e.id {
                if overlap.remove(id) != nil { continue }
                overlap.removeAll()
            }
            batch.append(e.framed, allocator: channel.allocator)
        }
        let count = batch.count
        guard let bytes = batch.bytes, let socket else { return nil }
        if !channel.isWritable {
            switch policy {
            case .disconnect:
                droppedCount.add(count, ordering: .relaxed)
                disconnectedFlag.store(true, ordering: .relaxed)
                end()
                channel.close(promise: nil)
                return nil
            case .dropNewest, .dropOldest:
                droppedCount.add(count, ordering: .relaxed)
                return nil
            case .block:
                break  // write anyway; the endpoint waits below
            }
        }
        rawBytes += bytes.readableBytes
        socket.writeAndFlush(NIOAny(bytes), promise: nil)
        deliveredCount.add(count, ordering: .relaxed)
        if policy == .block, !channel.isWritable {
            let promise = writable ?? channel.eventLoop.makePromise()
            writable = promise
            return promise.futureResult
        }
        return nil
    }

    /// A heartbeat comment, unless the connection is busy anyway.
    func heartbeat() {
        channel.eventLoop.assertInEventLoop()
        guard live, !ended, channel.isWritable, let socket else { return }
        rawBytes += SSEEvent.heartbeat.framed.readableBytes
        socket.writeAndFlush(NIOAny(SSEEvent.heartbeat.framed), promise: nil)
    }

    /// The connection can take more again.
    func becameWritable() {
        channel.eventLoop.assertInEventLoop()
        guard channel.isWritable, let promise = writable else { return }
        writable = nil
        promise.succeed()
    }

    /// Ends the stream: nothing more is written and the response finishes.
    func end() {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        ended = true
        socket = nil
        pending = []
        pendingBytes = 0
        writable?.succeed()
        writable = nil
        let after = onEnd
        onEnd = nil
        after?()
    }

    /// Runs `body` when the stream is over (at once if it is).
    func whenEnded(_ body: @escaping () -> Void) {
        channel.eventLoop.assertInEventLoop()
        if ended { body() } else { onEnd = body }
    }

    /// Whether `e` is for this subscriber: heartbeats always, a notice of a room (presence) when
    /// the subscriber is in it; a message when it is in the subscriber's room (if it named one)
    /// and the viewer may see it.
    func matches(_ e: SSEEvent) -> Bool {
        // Heartbeats (no room); notices of a room (presence), for the rooms this viewer may read.
        guard e.id != nil else { return e.room.isEmpty || ((room == nil || e.room == room) && viewer.rooms?.allows(e.room) ?? true) }
        return (room == nil || e.room == room) && viewer.sees(room: e.room, parties: e.parties)
    }
}

/// The subscribers of one SSE endpoint, grouped by event loop.
typealias SSESubscribers = LoopGroups<SSESubscriber>

extension SSESubscriber: LoopMember {}
