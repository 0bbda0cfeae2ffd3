import Synchronization

/// A wake-up call that is not lost when nobody is waiting: signals that come while the reader
/// is busy fold into one.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var finished = false
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next `wait`.
    func signal() {
        let w = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let w = s.waiter else { s.pending = true; return nil }
            s.waiter = nil
            return w
        }
        w?.resume(returning: true)
    }

    /// Ends the waits: `wait` returns false from now on.
    func finish() {
        let w = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume(returning: false)
    }

    /// Returns true when signalled, false when finished or cancelled.
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { c in
                let now = state.withLock { s -> Bool? in
                    if s.finished || Task.isCancelled { return false }
                    if s.pending { s.pending = false; return true }
                    s.waiter = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            finish()
        }
    }
}
