import Synchronization
import Switchboard
import SwitchboardChannels

/// The SSE endpoint's listener on its source, which outlives one instance of the endpoint:
/// while the endpoint is suspended (restarting in a reload) it keeps what the source sends,
/// and the replacement takes it over in order before anything newer.
///
/// - Important: The source calls `deliver` one batch at a time. `attach` drains what was
///   kept and switches to forwarding atomically, so a batch is never passed by a later one.
final class SSERelay: Sendable {
    typealias Handler = @Sendable ([Message]) async -> Void

    private enum Mode {
        case forwarding(Handler)
        case keeping([Message])
    }

    private struct State {
        var mode = Mode.keeping([])
        /// A batch is on its way through a handler (the source sends one at a time).
        var forwarding = false
        /// Waiting in `settled()` for that batch.
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// Removes the listener from the source.
    let unlisten = Mutex<(@Sendable () -> Void)?>(nil)
    /// The source the listener is on; held, so that its identity cannot be taken by a new
    /// instance at the same address.
    let source: any MessageListening
    /// The most messages kept while nobody forwards (the oldest go first beyond it).
    let limit: Int

    init(source: any MessageListening, limit: Int) {
        self.source = source
        self.limit = limit
    }

    /// Called by the source with each batch.
    func deliver(_ batch: [Message]) async {
        let handler: Handler? = state.withLock { s in
            switch s.mode {
            case .forwarding(let h):
                s.forwarding = true
                return h
            case .keeping(var kept):
                kept.append(contentsOf: batch)
                if kept.count > limit { kept.removeFirst(kept.count - limit) }
                s.mode = .keeping(kept)
                return nil
            }
        }
        guard let handler else { return }
        await handler(batch)
        let waiters = state.withLock { s in
            s.forwarding = false
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Stops forwarding and keeps what comes from now on (see `settled()`).
    func keep() {
        state.withLock { s in if case .forwarding = s.mode { s.mode = .keeping([]) } }
    }

    /// Returns once a batch that was being forwarded when `keep()` was called has been
    /// handled: after it, the old handler gets nothing more.
    func settled() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.forwarding { s.waiters.append(c) }
                return !s.forwarding
            }
            if now { c.resume() }
        }
    }

    /// Hands what was kept to `handler`, then forwards everything to it.
    func attach(_ handler: @escaping Handler) async {
        while true {
            let kept: [Message] = state.withLock { s in
                guard case .keeping(let kept) = s.mode else { return [] }
                s.mode = kept.isEmpty ? .forwarding(handler) : .keeping([])
                return kept
            }
            if kept.isEmpty { return }
            await handler(kept)
        }
    }

    /// What was kept, now, for a replacement that listens elsewhere; keeps nothing after.
    func takeKept() -> [Message] {
        state.withLock { s in
            guard case .keeping(let kept) = s.mode else { return [] }
            s.mode = .keeping([])
            return kept
        }
    }

    /// Leaves the source.
    func detach() {
        unlisten.take()?()
    }
}
