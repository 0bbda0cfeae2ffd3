import Foundation
import Synchronization

/// Remembers delivery ids for a window, so a replayed delivery is recognised.
final class ReplayGuard: Sendable {
    private let seen = Mutex<(ids: [String: Date], lastPrune: Date)>(([:], Date()))
    let window: TimeInterval
    let limit: Int

    init(window: Duration, limit: Int = 100_000) {
        self.window = max(1, window.milliseconds / 1000)
        self.limit = limit
    }

    /// Records `id`; `false` if it was already seen within the window.
    func firstSighting(_ id: String, now: Date = Date()) -> Bool {
        seen.withLock { s in
            if now.timeIntervalSince(s.lastPrune) > window / 4 || s.ids.count > limit {
                s.ids = s.ids.filter { now.timeIntervalSince($0.value) <= window }
                s.lastPrune = now
            }
            if let at = s.ids[id], now.timeIntervalSince(at) <= window { return false }
            s.ids[id] = now
            return true
        }
    }

    /// Forgets `id` (its delivery was not taken, so a retry must get through).
    func forget(_ id: String) {
        _ = seen.withLock { $0.ids.removeValue(forKey: id) }
    }

    var count: Int { seen.withLock { $0.ids.count } }
}
