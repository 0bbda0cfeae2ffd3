import NIOCore
import Switchboard
import SwitchboardChannels
import Synchronization

/// The running part of a stream endpoint — SSE and WebSocket alike: what feeds it (a listener
/// in its source's own loop, or, for a source that cannot run one, a `block` tap its pump
/// reads), its subscribers grouped by event loop, the dispatch that encodes each message once
/// and hands the batch to every loop, the keep-alive, and the halt that ends it all.
///
/// One hub lives from an endpoint's start to its stop (or suspend); `StreamTotals` outlives it.
final class StreamHub<Event: StreamEvent>: Sendable {
    typealias Subscriber = StreamSubscriber<Event>

    let subscribers = LoopGroups<Subscriber>()
    /// The counts of subscribers gone, the endpoint's (they outlive the hub).
    let totals: StreamTotals
    private let encode: @Sendable (Message) -> Event
    /// Sees every batch's events, whether or not anyone is subscribed (SSE's history).
    private let record: (@Sendable ([Event]) -> Void)?
    private let tap = Mutex<Tap<Message>?>(nil)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// What `halt` undoes first: the listener on the source, presence listeners.
    private let undo = Mutex<[@Sendable () -> Void]>([])
    /// Set when the hub halts: a subscriber that arrives after is refused.
    private let closed = Atomic<Bool>(false)

    init(totals: StreamTotals, encode: @escaping @Sendable (Message) -> Event, record: (@Sendable ([Event]) -> Void)? = nil) {
        self.totals = totals
        self.encode = encode
        self.record = record
    }

    // MARK: Feeding

    /// Feeds the hub from `fanout`: a listener in its own loop when it can run one (a mult, a
    /// pub: one task hand-over less per message), else a tap its pump reads.
    func feed(from fanout: any MessageFanout, tapName: String, capacity: Int) throws {
        if let listening = fanout as? any MessageListening {
            onHalt(try listening.listen({ [self] batch in await dispatch(batch) }, end: {}))
        } else {
            try pump(from: fanout, tapName: tapName, capacity: capacity)
        }
    }

    /// Feeds the hub from a `block` tap on `fanout` (every topic of a pub), read by a task.
    func pump(from fanout: any MessageFanout, tapName: String, capacity: Int) throws {
        let t = try fanout.tap(TapOptions(name: tapName, policy: .block, capacity: capacity, topic: "*"))
        tap.withLock { $0 = t }
        run { [self] in await t.forEachBatch { await dispatch($0) } }
    }

    /// The pump's tap, as `inspect` shows it (nil: a listener feeds the hub).
    var tapFigures: JSONValue? { tap.withLock { $0 }?.json }

    /// Encodes each message once, shows the events to `record`, and hands the batch to every
    /// connection's event loop (waiting for `block` subscribers that are behind).
    func dispatch(_ batch: [Message]) async {
        // Nobody to encode for (a subscriber added after this check gets the next batch, as it
        // would have missed this one's snapshot anyway).
        if record == nil, subscribers.isEmpty { return }
        var events: [Event] = []
        events.reserveCapacity(batch.count)
        for message in batch { events.append(encode(message)) }
        record?(events)
        let ready = events
        await subscribers.deliver { $0.deliver(ready) }
    }

    /// Hands `events` (a presence notice) to every subscriber it is for.
    func notify(_ events: [Event]) async {
        await subscribers.onEachLoop { $0.deliver(events) }
    }

    // MARK: Subscribers

    /// Adds `s`; false when the hub has halted meanwhile (its end would miss `s`: the caller
    /// refuses the client, which retries).
    func admit(_ s: Subscriber) -> Bool {
        subscribers.add(s)
        guard closed.load(ordering: .sequentiallyConsistent) else { return true }
        subscribers.remove(s)
        return false
    }

    /// `s` is over: it goes, and its counts join the endpoint's totals.
    func leave(_ s: Subscriber) {
        subscribers.remove(s)
        totals.retire(delivered: s.delivered, dropped: s.dropped)
    }

    /// What subscribers delivered and dropped, those gone included.
    var delivered: (delivered: Int, dropped: Int) {
        totals.adding(subscribers.all.map { ($0.delivered, $0.dropped) })
    }

    // MARK: Running

    /// Runs `body` until the hub halts.
    func run(_ body: @escaping @Sendable () async -> Void) {
        tasks.withLock { $0.append(Task(executorPreference: TaskPlacement.executor) { await body() }) }
    }

    /// Keeps every subscriber's connection alive each `period` (read anew each time: it may be
    /// updated); a busy one skips it.
    func keepAlive(every period: @escaping @Sendable () -> Duration) {
        run { [self] in
            while (try? await Task.sleep(for: period())) != nil {
                await subscribers.onEachLoop { $0.keepAlive(); return nil }
            }
        }
    }

    /// Runs `body` first when the hub halts.
    func onHalt(_ body: @escaping @Sendable () -> Void) {
        undo.withLock { $0.append(body) }
    }

    /// Leaves the source and ends every stream (each transport says so: SSE sends `retry:` and
    /// ends its response, a WebSocket sends a close frame, 1012), `pace.perTick` of them every
    /// 10 ms and the rest when `pace.within` has passed; returns once the hub's tasks are over.
    func halt(pace: DrainPace = DrainPace(rate: 0, within: .zero)) async {
        closed.store(true, ordering: .sequentiallyConsistent)
        for body in undo.withLock({ u in defer { u = [] }; return u }) { body() }
        tap.withLock { $0 }?.cancel()
        let tasks = tasks.withLock { $0 }
        tasks.forEach { $0.cancel() }
        // Ending every stream lets the server shut down gracefully (clients reconnect and
        // resume); it also frees a batch held back by a `block` subscriber. Staggered, so that
        // the clients do not all come back at once.
        if pace.rate > 0 {
            let all = subscribers.all
            let clock = ContinuousClock()
            let start = clock.now
            var next = 0
            var tick = 0
            while next < all.count, clock.now - start < pace.within {
                for s in all[next..<min(next + pace.perTick, all.count)] { s.channel.eventLoop.execute { s.end() } }
                next += pace.perTick
                tick += 1
                try? await clock.sleep(until: start + .milliseconds(10 * tick))
            }
        }
        await subscribers.onEachLoop { $0.end(); return nil }
        for t in tasks { await t.value }
    }
}

/// What the SSE and WebSocket endpoints read alike about their subscribers, with the same
/// names, defaults and ranges: what a subscriber that falls behind gets (`policy`), how much
/// may wait for one (`bufferBytes`), the room of a message without one, how many stored
/// messages a resume may replay, and how fast the streams end at a stop (`drain`).
struct StreamSettings: Sendable {
    var policy: TapPolicy
    var bufferBytes: Int
    var defaultRoom: String
    var resumeLimit: Int
    var drain: DrainPace

    init(_ c: ConfigReader) {
        policy = c.tapPolicy(default: .disconnect)
        bufferBytes = c.int("bufferBytes", default: 262_144, in: 1024...1_073_741_824)
        defaultRoom = c.string("defaultRoom", default: Message.defaultRoom)
        resumeLimit = c.int("resumeLimit", default: 10_000, in: 1...1_000_000)
        drain = DrainPace(c)
    }
}

/// What the subscribers of an endpoint that have gone delivered and dropped, so that its
/// totals only grow across restarts.
final class StreamTotals: Sendable {
    private let retired = Mutex<(delivered: Int, dropped: Int)>((0, 0))

    func retire(delivered: Int, dropped: Int) {
        retired.withLock { $0.delivered += delivered; $0.dropped += dropped }
    }

    /// The totals with those of `live` subscribers added.
    func adding(_ live: [(Int, Int)]) -> (delivered: Int, dropped: Int) {
        live.reduce(retired.withLock { $0 }) { ($0.delivered + $1.0, $0.dropped + $1.1) }
    }
}

// MARK: - Subscribers by event loop

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
