import Synchronization

/// A value that arrives once: `resolve` sets it, every `wait` returns it (or its error).
/// Components use it for readiness (a server is listening) in `start()`.
package final class Latch<Value: Sendable>: Sendable {
    private let state = Mutex<(result: Result<Value, any Error>?, waiters: [CheckedContinuation<Value, any Error>])>((nil, []))

    /// An unresolved latch.
    public init() {}

    /// Sets the outcome; later calls are ignored. Returns whether this call set it.
    @discardableResult
    public func resolve(_ result: Result<Value, any Error>) -> Bool {
        let waiters = state.withLock { s -> [CheckedContinuation<Value, any Error>]? in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        guard let waiters else { return false }
        waiters.forEach { $0.resume(with: result) }
        return true
    }

    /// Whether the outcome is set.
    public var isResolved: Bool { state.withLock { $0.result != nil } }

    /// Waits for the outcome.
    public func wait() async throws -> Value {
        try await withCheckedThrowingContinuation { c in
            let result = state.withLock { s -> Result<Value, any Error>? in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let result { c.resume(with: result) }
        }
    }
}
