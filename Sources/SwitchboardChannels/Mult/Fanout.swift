import Synchronization

/// A set of taps and how a batch of items reaches all of them: the fan-out inside `Mult`
/// and `Pub`, usable on its own by a component that makes its own items (e.g. SSE events
/// encoded once for every subscriber).
public final class Fanout<Element: Sendable>: Sendable {
    private let taps = Mutex<[Tap<Element>]>([])
    private let closed = Mutex(false)
    /// What taps that are gone delivered and dropped, so the totals only grow.
    private let retired = Mutex<(delivered: Int, dropped: Int)>((0, 0))

    private let nextID = Atomic<UInt64>(0)

    /// An empty fan-out.
    public init() {}

    /// Adds a tap; a tap added after `closeAll()` comes back already closed.
    public func tap(name: String, policy: TapPolicy, capacity: Int) -> Tap<Element> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let tap = Tap<Element>(id: id, name: name, policy: policy, capacity: capacity)
        let added = closed.withLock { isClosed -> Bool in
            guard !isClosed else { return false }
            taps.withLock { $0.append(tap) }
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
        let gone = taps.withLock { t -> [Tap<Element>] in
            let gone = t.filter { $0.id == id }
            t.removeAll { $0.id == id }
            return gone
        }
        retire(gone)
    }

    private func retire(_ gone: [Tap<Element>]) {
        guard !gone.isEmpty else { return }
        let counters = gone.map(\.counters)
        retired.withLock { r in
            r.delivered += counters.map(\.delivered).reduce(0, +)
            r.dropped += counters.map(\.dropped).reduce(0, +)
        }
    }

    /// Items delivered into and dropped by every tap there has been (those gone included),
    /// and items buffered in the current ones: the figures behind a mult's metrics.
    public var totals: (delivered: Int, dropped: Int, buffered: Int) {
        let now = snapshot.map(\.counters)
        let gone = retired.withLock { $0 }
        return (gone.delivered + now.map(\.delivered).reduce(0, +), gone.dropped + now.map(\.dropped).reduce(0, +),
                now.map(\.buffered).reduce(0, +))
    }

    /// The current taps.
    public var snapshot: [Tap<Element>] { taps.withLock { $0 } }

    /// Whether there is no tap.
    public var isEmpty: Bool { taps.withLock { $0.isEmpty } }

    /// Closes every tap (their consumers drain, then see the end) and refuses new ones.
    public func closeAll() {
        closed.withLock { $0 = true }
        let all = taps.withLock { t in defer { t.removeAll() }; return t }
        retire(all)
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
