import HummingbirdCore
import Synchronization

/// Counts open connections and stops accepting new ones at the limit (they wait in the
/// listen backlog until a connection closes); near the limit, connections waiting for a
/// request head are shed.
struct ConnectionLimit: AvailableConnectionsDelegate {
    final class Counter: Sendable {
        let open = Atomic<Int>(0)
        let accepted = Atomic<Int>(0)
        let shed = Atomic<Int>(0)
    }

    let limit: Int
    let counter: Counter
    let registry: ConnectionRegistry

    mutating func connectionOpened() {
        let open = counter.open.add(1, ordering: .relaxed).newValue
        counter.accepted.add(1, ordering: .relaxed)
        // Near the limit, connections that hold a slot without a request go first, so that
        // new clients are still served (and are not stuck in the listen backlog).
        if open >= limit - max(1, limit / 10) {
            counter.shed.add(registry.shed(max(1, limit / 20)), ordering: .relaxed)
        }
    }

    mutating func connectionClosed() {
        counter.open.subtract(1, ordering: .relaxed)
    }

    func isAcceptingNewConnections() -> Bool {
        counter.open.load(ordering: .relaxed) < limit
    }
}
