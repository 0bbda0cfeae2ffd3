import Synchronization

/// A set of taps and how a batch of items reaches all of them: the fan-out inside `Mult`
/// and `Pub`, usable on its own by a component that makes its own items (e.g. SSE events
/// encoded once for every subscriber).
public final class Fanout<Element: Sendable>: Sendable {
    private struct State {
        var taps: [Tap<Element>] = []
        var closed = false
        /// What taps that are gone delivered and dropped, so the totals only grow.
        var retiredDelivered = 0
        var retiredDropped = 0
    }

    private let state = Mutex(State())

    private let nextID = Atomic<UInt64>(0)

    /// An empty fan-out.
    public init() {}

    /// Adds a tap; a tap added after `closeAll()` comes back already closed.
    public func tap(name: String, policy: TapPolicy, capacity: Int) -> Tap<Element> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let tap = Tap<Element>(id: id, name: name, policy: policy, capacity: capacity)
        let added = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.taps.append(tap)
            return true
        }
        if added {
            tap.onCancel { [weak self] in self?.remove(id: id) }
        } else {
            tap.chan.close()
        }
        return tap
    }

    func remove(id: UInt64) {
        state.withLock { s in
            guard let i = s.taps.firstIndex(where: { $0.id == id }) else { return }
            Self.retire(s.taps.remove(at: i), into: &s)
        }
    }

    private static func retire(_ tap: Tap<Element>, into s: inout State) {
        let c = tap.counters
        s.retiredDelivered += c.delivered
        s.retiredDropped += c.dropped
    }

    /// Items delivered into and dropped by every tap there has been (those gone included),
    /// and items buffered in the current ones: the figures behind a mult's metrics.
    public var totals: (delivered: Int, dropped: Int, buffered: Int) {
        let (taps, delivered, dropped) = state.withLock { ($0.taps, $0.retiredDelivered, $0.retiredDropped) }
        let now = taps.map(\.counters)
        return (delivered + now.map(\.delivered).reduce(0, +), dropped + now.map(\.dropped).reduce(0, +), now.map(\.buffered).reduce(0, +))
    }

    /// The current taps.
    public var snapshot: [Tap<Element>] { state.withLock { $0.taps } }

    /// Whether there is no tap.
    public var isEmpty: Bool { state.withLock { $0.taps.isEmpty } }

    /// Closes every tap (their consumers drain, then see the end) and refuses new ones.
    public func closeAll() {
        let all = state.withLock { s in
            s.closed = true
            defer { s.taps.removeAll() }
            for tap in s.taps { Self.retire(tap, into: &s) }
            return s.taps
        }
        for tap in all { tap.chan.close() }
    }

    /// Delivers `batch` to every tap under its policy. Non-waiting offers go first to all
    /// taps, so a full `block` tap delays only itself until the others have their items;
    /// then the remainders are awaited (back-pressure). A tap removed meanwhile is skipped:
    /// its closed channel ends the wait.
    ///
    /// Returns `false` if the task was cancelled while waiting.
    @inlinable public func deliver(_ batch: [Element]) async -> Bool {
        var blocked: [(Tap<Element>, Int)] = []
        for tap in snapshot {
            let accepted = tap.chan.offer(contentsOf: batch)
            guard accepted < batch.count else { continue }
            switch tap.policy {
            case .block: blocked.append((tap, accepted))
            case .disconnect: tap.disconnect(lost: batch.count - accepted)
            case .dropNewest, .dropOldest: break  // closed meanwhile: nothing to do
            }
        }
        for (tap, start) in blocked {
            sending: for item in batch[start...] {
                switch await tap.chan.send(item) {
                case .accepted, .dropped: continue
                case .closed: break sending
                case .cancelled: return false
                }
            }
        }
        return true
    }
}
