import Foundation
import NIOCore
import Switchboard
import SwitchboardChannels
import Synchronization

/// A message as every subscriber of one stream endpoint gets it: encoded once, as the bytes a
/// live subscriber writes (an HTTP chunk of an SSE event, a WebSocket frame).
protocol StreamEvent: Sendable {
    /// The message id (`nil` for SSE's heartbeats and notices).
    var id: MessageID? { get }
    /// The room the message belongs to ("" for heartbeats).
    var room: String { get }
    /// Sender and recipient of a private message, which only they see.
    var parties: Parties? { get }
    /// The ready-made bytes.
    var framed: ByteBuffer { get }
}

/// How a subscriber's bytes reach its client: SSE writes HTTP chunks at the front of its
/// pipeline and ends its response; a WebSocket writes frames through its wire and closes with
/// a close frame. Used on the connection's event loop only.
protocol StreamFraming: AnyObject {
    /// Writes and flushes `bytes`.
    func send(_ bytes: ByteBuffer)
    /// Keeps an idle connection alive (an SSE comment, a WebSocket ping); returns the bytes it
    /// wrote that count as the response's.
    func keepAlive() -> Int
    /// The endpoint ends the stream (it stops, or the client is too slow): what the transport
    /// says before the connection goes.
    func close()
}

/// One client of a stream endpoint — SSE or WebSocket alike — written to straight from its
/// connection's event loop.
///
/// The endpoint hands every batch of encoded events to each connection's event loop once
/// (`LoopGroups`); there each subscriber writes what is for it in one write and one flush.
/// Until it is live (its replay or resume is being written) live events wait, at most
/// `pendingLimit` bytes. Its buffer is the connection's outbound buffer (NIO's write watermark,
/// `bufferBytes`); when that is full the policy decides: `disconnect` closes the connection (the
/// client resumes), `dropNewest`/`dropOldest` skip the batch (counted), `block` makes the
/// endpoint wait until the client catches up.
///
/// - Important: Everything but the counters is touched only on `channel.eventLoop` (asserted
///   in debug builds).
final class StreamSubscriber<Event: StreamEvent>: LoopMember, @unchecked Sendable {
    let id: UInt64
    let channel: any Channel
    let room: String?
    /// Who reads: the rooms and private messages they may see.
    let viewer: Viewer
    let policy: TapPolicy
    /// The most bytes of live events held while the replay is written.
    let pendingLimit: Int
    let since = ContinuousClock.now
    private let deliveredCount = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)
    private let disconnectedFlag = Atomic<Bool>(false)

    // Event-loop state.
    private var framing: (any StreamFraming)?
    private var live = false
    private var ended = false
    /// Runs when the stream is over (client gone, endpoint stopped, disconnected).
    private var onEnd: (() -> Void)?
    /// Bytes written (for the access log).
    private(set) var bytesWritten = 0
    private var pending: [Event] = []
    private var pendingBytes = 0
    /// The ids the replay sent last: the live side may have them too, as a prefix.
    private var overlap = Set<MessageID>()
    private var writable: EventLoopPromise<Void>?
    /// When the client's token expires, what happens then (cancelled when the stream ends).
    private var expiry: Scheduled<Void>?
    /// The last words of a stream told to end before it went live (a token expired during its replay).
    private var endNotice: ByteBuffer?

    /// `framing` may be given at once (a WebSocket's wire exists before its resume), or when
    /// the subscriber goes live (SSE's front of the pipeline); until then `end` says nothing.
    init(id: UInt64, channel: any Channel, room: String?, viewer: Viewer, policy: TapPolicy, pendingLimit: Int,
         framing: (any StreamFraming)? = nil) {
        self.framing = framing
        self.id = id
        self.channel = channel
        self.room = room
        self.viewer = viewer
        self.policy = policy
        self.pendingLimit = pendingLimit
    }

    var delivered: Int { deliveredCount.load(ordering: .relaxed) }
    var dropped: Int { droppedCount.load(ordering: .relaxed) }
    var isDisconnected: Bool { disconnectedFlag.load(ordering: .relaxed) }

    /// After the replay went out: writes through `framing` what came meanwhile, then everything
    /// as it comes. nil `framing`: the connection is gone.
    func goLive(replayed: Set<MessageID>, framing: (any StreamFraming)?) {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        guard let framing else { return end() }
        self.framing = framing
        overlap = replayed
        live = true
        if let notice = endNotice {
            pending = []
            pendingBytes = 0
            return end(saying: notice)
        }
        let queued = pending
        pending = []
        pendingBytes = 0
        _ = deliver(queued)
    }

    /// Writes the events meant for this subscriber; returns a future to wait on when the
    /// `block` policy must hold the endpoint back.
    func deliver(_ events: [Event]) -> EventLoopFuture<Void>? {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return nil }
        guard live else {
            // Past the connection's buffer size they are the policy's to handle, not memory's to hold.
            for e in events where matches(e) {
                pendingBytes += e.framed.readableBytes
                pending.append(e)
            }
            if pendingBytes > pendingLimit { overflow(pending.count) }
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
        guard let bytes = batch.bytes, let framing else { return nil }
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
        bytesWritten += bytes.readableBytes
        framing.send(bytes)
        deliveredCount.add(count, ordering: .relaxed)
        if policy == .block, !channel.isWritable {
            let promise = writable ?? channel.eventLoop.makePromise()
            writable = promise
            return promise.futureResult
        }
        return nil
    }

    /// Keeps the connection alive, unless it is busy anyway.
    func keepAlive() {
        channel.eventLoop.assertInEventLoop()
        guard live, !ended, channel.isWritable, let framing else { return }
        bytesWritten += framing.keepAlive()
    }

    /// The connection can take more again.
    func becameWritable() {
        channel.eventLoop.assertInEventLoop()
        guard channel.isWritable, let promise = writable else { return }
        writable = nil
        promise.succeed()
    }

    /// A client too slow for its buffer (or for what is held while it replays): `disconnect`
    /// and `block` close the connection, the drop policies skip (counted).
    private func overflow(_ count: Int) {
        droppedCount.add(count, ordering: .relaxed)
        pending = []
        pendingBytes = 0
        guard policy == .disconnect || policy == .block else { return }
        disconnectedFlag.store(true, ordering: .relaxed)
        end()
        channel.close(promise: nil)
    }

    /// The endpoint ends the stream: the transport says so (`StreamFraming.close`), nothing
    /// more is written, `whenEnded` runs.
    func end() {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        framing?.close()
        finish()
    }

    /// At `until` (a token's expiry), `action` runs unless the stream ended first; a later call
    /// replaces the earlier one (a refreshed token).
    func expire(at until: Date, _ action: @escaping @Sendable () -> Void) {
        channel.eventLoop.assertInEventLoop()
        expiry?.cancel()
        guard !ended else { return }
        // At most a year ahead (a token's lifetime is bounded far below): the amount fits.
        let seconds = min(max(until.timeIntervalSinceNow, 0), 365 * 86_400)
        expiry = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) { [weak self] in
            guard let self, !self.ended else { return }
            action()
        }
    }

    /// Ends the stream with `notice` (framed for the transport) as its last bytes — nothing of
    /// the transport's own closing follows it. Before the stream is live (its replay still being
    /// written) the notice waits for `goLive`, which sends it after the replay and ends.
    func end(saying notice: ByteBuffer) {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        guard live, let framing else {
            endNotice = notice
            return
        }
        bytesWritten += notice.readableBytes
        framing.send(notice)
        finish()
    }

    /// Nothing more is written (the client went, or the transport ended); `whenEnded` runs.
    func finish() {
        channel.eventLoop.assertInEventLoop()
        guard !ended else { return }
        ended = true
        expiry?.cancel()
        expiry = nil
        framing = nil
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

    /// Whether `e` is for this subscriber: heartbeats always; a notice of a room (presence) when
    /// the subscriber is in it and may read it; a message when it is in the subscriber's room
    /// (if it named one) and the viewer may see it.
    func matches(_ e: Event) -> Bool {
        guard e.id != nil else { return e.room.isEmpty || ((room == nil || e.room == room) && viewer.rooms?.allows(e.room) ?? true) }
        return (room == nil || e.room == room) && viewer.sees(room: e.room, parties: e.parties)
    }
}

/// What one subscriber writes of a batch, gathered for one write: the one event's shared
/// buffer as it is when it is alone, else a copy of them all into one buffer.
struct BatchBytes {
    private var single: ByteBuffer?
    private var joined: ByteBuffer?
    /// The events gathered.
    private(set) var count = 0

    mutating func append(_ bytes: ByteBuffer, allocator: ByteBufferAllocator) {
        count += 1
        if single == nil, joined == nil {
            single = bytes
            return
        }
        if joined == nil, let s = single {
            joined = allocator.buffer(capacity: s.readableBytes * 4)
            joined!.writeImmutableBuffer(s)
            single = nil
        }
        joined!.writeImmutableBuffer(bytes)
    }

    /// The bytes to write (nil: nothing is for this subscriber).
    var bytes: ByteBuffer? { joined ?? single }
}
