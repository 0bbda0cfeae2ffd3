import Synchronization

/// The taps of one mult (or one pub topic) and how a batch of items reaches all of them.
@usableFromInline
final class TapSet<Element: Sendable>: Sendable {
    private let taps = Mutex<[Tap<Element>]>([])
    private let closed = Mutex(false)

    init() {}

    /// Adds a tap; a tap added after `closeAll()` comes back already closed.
    func add(name: String, policy: TapPolicy, capacity: Int, id: UInt64) -> Tap<Element> {
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
        taps.withLock { $0.removeAll { $0.id == id } }
    }

    @usableFromInline var snapshot: [Tap<Element>] { taps.withLock { $0 } }

    var isEmpty: Bool { taps.withLock { $0.isEmpty } }

    /// Closes every tap (their consumers drain, then see the end) and refuses new ones.
    @usableFromInline func closeAll() {
        closed.withLock { $0 = true }
        for tap in taps.withLock({ t in defer { t.removeAll() }; return t }) { tap.chan.close() }
    }

    /// Delivers `batch` to every tap under its policy. Non-waiting offers go first to all
    /// taps, so a full `block` tap delays only itself until the others have their items;
    /// then the remainders are awaited (back-pressure). A tap removed meanwhile is skipped:
    /// its closed channel ends the wait.
    ///
    /// Returns `false` if the task was cancelled while waiting.
    @inlinable func deliver(_ batch: [Element]) async -> Bool {
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
