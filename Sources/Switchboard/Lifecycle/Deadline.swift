import Synchronization

/// Waits for `operation` at most `deadline`: its result, or `nil` when time ran out.
///
/// Unlike a task group, this returns at the deadline even if `operation` ignores
/// cancellation; the operation is cancelled and left to finish on its own.
package func withDeadline<T: Sendable>(_ deadline: Duration, _ operation: @escaping @Sendable () async -> T) async -> T? {
    let race = DeadlineRace<T>()
    return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        race.begin(continuation, deadline: deadline, operation)
    }
}

/// The two tasks of `withDeadline` and which of them resumed the caller.
private final class DeadlineRace<T: Sendable>: Sendable {
    private let state = Mutex<(done: Bool, worker: Task<Void, Never>?, timer: Task<Void, Never>?)>((false, nil, nil))

    func begin(_ continuation: CheckedContinuation<T?, Never>, deadline: Duration, _ operation: @escaping @Sendable () async -> T) {
        let worker = Task {
            let value = await operation()
            if let timer = self.finish() {
                timer?.cancel()
                continuation.resume(returning: value)
            }
        }
        let timer = Task {
            try? await Task.sleep(for: deadline)
            if let worker = self.finish(timer: true) {
                worker?.cancel()
                continuation.resume(returning: nil)
            }
        }
        state.withLock { s in
            s.worker = worker
            s.timer = timer
            if s.done { timer.cancel() }  // the operation won before the timer was recorded
        }
    }

    /// Marks the race won; returns the other task (`nil` if the race was already won).
    private func finish(timer: Bool = false) -> Task<Void, Never>?? {
        state.withLock { s in
            guard !s.done else { return nil }
            s.done = true
            return .some(timer ? s.worker : s.timer)
        }
    }
}

/// Waits until `condition` holds or `deadline` passes, looking every millisecond (for drains
/// at shutdown, where a condition variable per buffer would cost every message).
package func waitUntil(_ deadline: ContinuousClock.Instant, _ condition: @Sendable () -> Bool) async {
    while !condition(), ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(1))
    }
}
