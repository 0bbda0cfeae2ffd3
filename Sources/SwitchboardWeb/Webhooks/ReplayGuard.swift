import Foundation
import Synchronization

/// Remembers accepted delivery ids so a replayed delivery is recognised.
///
/// An id is remembered only once its delivery is on the channel (`begin`, then `accept`),
/// so a delivery that was refused (bad body, channel full) can be retried with the same id.
/// It is kept at least as long as the timestamp it came with stays acceptable: a delivery
/// dated in the future is valid until its timestamp plus the tolerance, and so is its id. At
/// most `limit` ids are kept: past it, those that would be forgotten soonest go first.
package final class ReplayGuard: Sendable {
    package enum Sighting: Equatable {
        /// Not seen: now in flight until `accept` or `abandon`.
        case fresh
        /// Accepted before.
        case duplicate
        /// Another request with this id is being handled right now.
        case inFlight
    }

    private struct State {
        var accepted: [String: Date] = [:]
        var inFlight: Set<String> = []
        var lastPrune = Date()
    }

    private let state = Mutex(State())
    let window: TimeInterval
    let limit: Int

    package init(window: Duration, limit: Int = 100_000) {
        self.window = max(1, window.milliseconds / 1000)
        self.limit = limit
    }

    /// Starts handling `id`.
    package func begin(_ id: String, now: Date = Date()) -> Sighting {
        state.withLock { s in
            if now.timeIntervalSince(s.lastPrune) > window / 4 || s.accepted.count > limit {
                s.accepted = s.accepted.filter { $0.value >= now }
                s.lastPrune = now
                // Still over the bound (a flood of fresh ids): the ones that would be forgotten
                // soonest go first, down to 90 % so that this is not done on every request.
                if s.accepted.count > limit {
                    let keep = limit * 9 / 10
                    s.accepted = Dictionary(uniqueKeysWithValues: s.accepted.sorted { $0.value > $1.value }.prefix(keep).map { ($0.key, $0.value) })
                }
            }
            if let until = s.accepted[id], until >= now { return .duplicate }
            if s.inFlight.contains(id) { return .inFlight }
            s.inFlight.insert(id)
            return .fresh
        }
    }

    /// The delivery of `id` was taken: remember it until `max(now, timestamp) + window`, at
    /// most `2 × window` from now (a timestamp far in the future, which only an unverified
    /// endpoint lets through, must not pin an id for good).
    package func accept(_ id: String, timestamp: Date? = nil, now: Date = Date()) {
        let stamp = timestamp.map { min(max(now, $0), now.addingTimeInterval(window)) } ?? now
        let until = stamp.addingTimeInterval(window)
        state.withLock { s in
            s.inFlight.remove(id)
            s.accepted[id] = max(s.accepted[id] ?? until, until)
        }
    }

    /// The delivery of `id` was not taken: a retry must get through.
    package func abandon(_ id: String) {
        _ = state.withLock { $0.inFlight.remove(id) }
    }

    /// Takes in what another guard remembers (the instance this one replaces in a reload).
    package func absorb(_ other: ReplayGuard) {
        let theirs = other.state.withLock { $0.accepted }
        state.withLock { s in s.accepted.merge(theirs) { max($0, $1) } }
    }

    package var count: Int { state.withLock { $0.accepted.count } }
}
