import HummingbirdCore
import Synchronization

/// Counts open connections and stops accepting new ones at the limit (they wait in the
/// listen backlog until a connection closes).
struct ConnectionLimit: AvailableConnectionsDelegate {
    final class Counter: Sendable {
        let open = Atomic<Int>(0)
        let accepted = Atomic<Int>(0)
    }

    let limit: Int
    let counter: Counter

    mutating func connectionOpened() {
        counter.open.add(1, ordering: .relaxed)
        counter.accepted.add(1, ordering: .relaxed)
    }

    mutating func connectionClosed() {
        counter.open.subtract(1, ordering: .relaxed)
    }

    func isAcceptingNewConnections() -> Bool {
        counter.open.load(ordering: .relaxed) < limit
    }
}
