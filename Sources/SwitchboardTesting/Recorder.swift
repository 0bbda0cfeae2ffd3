import Synchronization
import Switchboard

/// Records what fakes did, in order, for tests to compare.
public final class Recorder: Sendable {
    private let entries = Mutex<[String]>([])

    /// An empty recorder.
    public init() {}

    /// Appends an entry.
    public func record(_ entry: String) {
        entries.withLock { $0.append(entry) }
    }

    /// Everything recorded so far.
    public var events: [String] { entries.withLock { $0 } }

    /// The entries that start with `prefix`, with the prefix removed (`"start "` → names).
    public func events(_ prefix: String) -> [String] {
        events.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// Forgets everything recorded.
    public func reset() {
        entries.withLock { $0.removeAll() }
    }
}

/// A rendezvous for `n` parties: `arrive()` returns once all have arrived, or when `limit`
/// passes (then it returns `false`). Tests use it to prove work runs concurrently.
public final class Barrier: Sendable {
    private let state: Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>
    private let parties: Int

    /// A barrier for `parties` arrivals.
    public init(parties: Int) {
        self.parties = parties
        state = Mutex((0, []))
    }

    /// Arrives and waits for the others, at most `limit`; whether everyone arrived.
    public func arrive(limit: Duration = .seconds(10)) async -> Bool {
        let release = state.withLock { s -> [CheckedContinuation<Void, Never>]? in
            s.count += 1
            guard s.count >= parties else { return nil }
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        if let release {
            release.forEach { $0.resume() }
            return true
        }
        let arrived: Void? = await withDeadline(limit) { [self] in
            await withCheckedContinuation { c in
                let done = state.withLock { s -> Bool in
                    if s.count >= parties { return true }
                    s.waiters.append(c)
                    return false
                }
                if done { c.resume() }
            }
        }
        return arrived != nil
    }
}
