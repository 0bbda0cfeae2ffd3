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
        /// The batch `deliver` queued on this loop last, until the next one has waited for it.
        var ahead: (batch: EventLoopFuture<[EventLoopFuture<Void>]>, settled: Settled)?
    }

    /// Set on the loop once a queued batch reached its members and none of them is to be
    /// waited for: the next batch need not wait for it (waiting for a future of another loop,
    /// even a fulfilled one, wakes that loop up).
    private final class Settled: Sendable {
        let done = Atomic<Bool>(false)
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

    /// Hands a batch to each loop's members: the loop the caller runs on does its share at
    /// once, every other loop gets its share queued. The caller does not wait for those, except
    /// for the batch it queued on a loop before this one (and what `body` returned for it: a
    /// `block` subscriber that is behind): at most one batch is queued ahead on any loop, so a
    /// loop that falls behind still holds the source back, one batch later.
    ///
    /// - Important: One caller at a time (the endpoint's listener): batches reach every member
    ///   in the order they were handed over.
    func deliver(_ body: @escaping @Sendable (Member) -> EventLoopFuture<Void>?) async {
        var behind: [EventLoopFuture<[EventLoopFuture<Void>]>] = []
        var here: (any EventLoop, [Member])?
        groups.withLock { g in
            for (key, group) in g {
                let members = Array(group.members.values)
                if group.loop.inEventLoop {
                    here = (group.loop, members)
                    continue
                }
                if let before = group.ahead, !before.settled.done.load(ordering: .acquiring) { behind.append(before.batch) }
                let settled = Settled()
                let batch = group.loop.submit {
                    let waits = members.compactMap(body)
                    if waits.isEmpty { settled.done.store(true, ordering: .releasing) }
                    return waits
                }
                g[key]?.ahead = (batch, settled)
            }
        }
        var waits = here.map { $0.1.compactMap(body) } ?? []
        for f in behind { waits += (try? await f.get()) ?? [] }
        for w in waits { try? await w.get() }
    }

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
