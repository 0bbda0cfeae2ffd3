import NIOCore
import SwitchboardChannels
import Synchronization

/// A stream's subscriber that lives on its connection's event loop (SSE, WebSocket).
protocol LoopMember: AnyObject, Sendable {
    var id: UInt64 { get }
    var channel: any Channel { get }
}

/// The subscribers of one endpoint, grouped by event loop so that a batch costs one hop per
/// loop, not one per subscriber.
final class LoopGroups<Member: LoopMember>: Sendable {
    private struct Group {
        let loop: any EventLoop
        var members: [UInt64: Member]
    }

    private let groups = Mutex<[ObjectIdentifier: Group]>([:])

    func add(_ s: Member) {
        groups.withLock { g in
            let key = ObjectIdentifier(s.channel.eventLoop)
            g[key, default: Group(loop: s.channel.eventLoop, members: [:])].members[s.id] = s
        }
    }

    func remove(_ s: Member) {
        groups.withLock { g in
            let key = ObjectIdentifier(s.channel.eventLoop)
            g[key]?.members[s.id] = nil
            if g[key]?.members.isEmpty == true { g[key] = nil }
        }
    }

    var all: [Member] { groups.withLock { $0.values.flatMap { $0.members.values } } }
    var count: Int { groups.withLock { $0.values.reduce(0) { $0 + $1.members.count } } }
    /// No members on any loop (a loop's group goes with its last member).
    var isEmpty: Bool { groups.withLock { $0.isEmpty } }

    /// Runs `body` on each loop for its members; the futures it returns are awaited. The
    /// other loops get their share first; the loop the caller runs on (the usual case: tasks
    /// run on the event loops) does its own share at once instead of queueing it behind itself.
    func onEachLoop(_ body: @escaping @Sendable (Member) -> EventLoopFuture<Void>?) async {
        let snapshot = groups.withLock { $0.values.map { ($0.loop, Array($0.members.values)) } }
        let here = snapshot.firstIndex { $0.0.inEventLoop }
        var futures = snapshot.indices.filter { $0 != here }.map { i in
            let (loop, members) = snapshot[i]
            return loop.submit { members.compactMap(body) }
        }
        if let here {
            let (loop, members) = snapshot[here]
            futures.append(loop.makeSucceededFuture(members.compactMap(body)))
        }
        for f in futures {
            guard let waits = try? await f.get() else { continue }
            for w in waits { try? await w.get() }
        }
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

extension Tap {
    /// Hands each batch the tap receives (up to 256) to `body` until the tap ends: an
    /// endpoint's pump, for a source that cannot run a listener.
    func forEachBatch(_ body: ([Element]) async -> Void) async {
        while true {
            let batch = await chan.receive(upTo: 256)
            if batch.isEmpty { return }
            await body(batch)
        }
    }
}
