import Synchronization

/// Routes each item of a source channel to the subscribers of its topic (core.async's `pub`):
/// the basis of rooms and private messages.
///
/// ```swift
/// let pub = Pub(source) { (m: Message) in m.room }
/// let lobby = pub.subscribe("lobby", name: "alice")
/// ```
///
/// - Important: An item whose topic has no subscriber, or whose topic function returns
///   `nil`, is discarded and counted in `unrouted` (core.async drops it the same way).
public final class Pub<Element: Sendable>: Sendable {
    /// The channel the pub takes from.
    public let source: Chan<Element>
    private let topicOf: @Sendable (Element) -> String?
    /// The subscriptions by topic, and whether the pub has ended (a subscription made after
    /// comes back closed).
    private let state = Mutex<(topics: [String: Fanout<Element>], closed: Bool)>(([:], false))
    /// Subscribers to every item, whatever its topic (a store, say).
    private let everything = Fanout<Element>()
    /// Consumers of every item run inside the pub's loop (see `listen`).
    private let listeners = Listeners<Element>()
    private let bufferFor: @Sendable (String) -> Int
    private let unroutedCount = Atomic<Int>(0)

    /// A pub over `source`; `topic` names each item's topic; `bufferFor` sizes a topic's
    /// subscriber buffers.
    public init(_ source: Chan<Element>, bufferFor: @escaping @Sendable (String) -> Int = { _ in 64 },
                topic: @escaping @Sendable (Element) -> String?) {
        self.source = source
        self.topicOf = topic
        self.bufferFor = bufferFor
    }

    /// Subscribes to `topic` with a tap of the topic's buffer size and `policy`.
    public func subscribe(_ topic: String, name: String = "sub", policy: TapPolicy = .block, capacity: Int? = nil) -> Tap<Element> {
        let (set, isClosed) = state.withLock { s -> (Fanout<Element>, Bool) in
            if let set = s.topics[topic] { return (set, s.closed) }
            let set = Fanout<Element>()
            s.topics[topic] = set
            return (set, s.closed)
        }
        // A fan-out that is closed hands out closed taps.
        if isClosed { set.closeAll() }
        return set.tap(name: name, policy: policy, capacity: capacity ?? bufferFor(topic))
    }

    /// Subscribes to every item, whatever its topic, in the order the pub takes them.
    public func subscribeAll(name: String = "all", policy: TapPolicy = .block, capacity: Int = 256) -> Tap<Element> {
        if state.withLock({ $0.closed }) { everything.closeAll() }
        return everything.tap(name: name, policy: policy, capacity: capacity)
    }

    /// Runs `deliver` with every batch, whatever its topics, inside the pub's own loop before the
    /// subscriptions get it, and `end` once the pub stops; returns the call that removes it (as
    /// `Mult.listen`: a stream endpoint filters by room itself).
    public func listen(_ deliver: @escaping @Sendable ([Element]) async -> Void, end: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        listeners.add(deliver, end: end)
    }

    /// How many listeners there are.
    public var listenerCount: Int { listeners.count }

    /// Removes every subscriber of `topic`.
    public func unsubscribeAll(_ topic: String) {
        let set = state.withLock { $0.topics.removeValue(forKey: topic) }
        set?.closeAll()
    }

    /// The topics with their subscribers.
    public var subscriptions: [String: [Tap<Element>]] {
        state.withLock { $0.topics }.mapValues(\.snapshot).filter { !$0.value.isEmpty }
    }

    /// Delivered into and dropped by all subscriptions there have been (every topic, and the
    /// subscribers to everything); buffered in the current ones.
    public var tapTotals: (delivered: Int, dropped: Int, buffered: Int) {
        let all = state.withLock { Array($0.topics.values) } + [everything]
        return all.map(\.totals).reduce((0, 0, 0)) { ($0.0 + $1.delivered, $0.1 + $1.dropped, $0.2 + $1.buffered) }
    }

    /// Items discarded because no one subscribed to their topic.
    public var unrouted: Int { unroutedCount.load(ordering: .relaxed) }

    /// Routes items until the source is closed and drained or the task is cancelled, then
    /// closes every subscription.
    public func run() async {
        routing: while !Task.isCancelled {
            let batch = await source.receive(upTo: 256)
            if batch.isEmpty { break }
            // Listeners first, as a mult's: a batch taken always reaches them.
            await listeners.deliver(batch)
            if !everything.isEmpty, await !everything.deliver(batch) { break routing }
            var groups: [(String, [Element])] = []
            for item in batch {
                guard let topic = topicOf(item) else { unroutedCount.add(1, ordering: .relaxed); continue }
                if let i = groups.firstIndex(where: { $0.0 == topic }) { groups[i].1.append(item) } else { groups.append((topic, [item])) }
            }
            for (topic, items) in groups {
                guard let set = state.withLock({ $0.topics[topic] }), !set.isEmpty else {
                    unroutedCount.add(items.count, ordering: .relaxed)
                    continue
                }
                if await !set.deliver(items) { break routing }
            }
        }
        let sets = state.withLock { s in
            s.closed = true
            return Array(s.topics.values)
        }
        for set in sets { set.closeAll() }
        everything.closeAll()
        listeners.endAll()
    }
}
