import Synchronization
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

    private let mode = Mutex(Mode.keeping([]))
    /// Removes the listener from the source.
    let unlisten = Mutex<(@Sendable () -> Void)?>(nil)
    /// The source instance the listener is on.
    let source: ObjectIdentifier
    /// The most messages kept while nobody forwards (the oldest go first beyond it).
    let limit: Int

    init(source: ObjectIdentifier, limit: Int) {
        self.source = source
        self.limit = limit
    }

    /// Called by the source with each batch.
    func deliver(_ batch: [Message]) async {
        let handler: Handler? = mode.withLock { m in
            switch m {
            case .forwarding(let h): return h
            case .keeping(var kept):
                kept.append(contentsOf: batch)
                if kept.count > limit { kept.removeFirst(kept.count - limit) }
                m = .keeping(kept)
                return nil
            }
        }
        await handler?(batch)
    }

    /// Stops forwarding and keeps what comes from now on.
    func keep() {
        mode.withLock { m in if case .forwarding = m { m = .keeping([]) } }
    }

    /// Hands what was kept to `handler`, then forwards everything to it.
    func attach(_ handler: @escaping Handler) async {
        while true {
            let kept: [Message] = mode.withLock { m in
                guard case .keeping(let kept) = m else { return [] }
                if kept.isEmpty { m = .forwarding(handler) } else { m = .keeping([]) }
                return kept
            }
            if kept.isEmpty { return }
            await handler(kept)
        }
    }

    /// What was kept, now, for a replacement that listens elsewhere; keeps nothing after.
    func takeKept() -> [Message] {
        mode.withLock { m in
            guard case .keeping(let kept) = m else { return [] }
            m = .keeping([])
            return kept
        }
    }

    /// Leaves the source.
    func detach() {
        unlisten.withLock { u in defer { u = nil }; return u }?()
    }
}
