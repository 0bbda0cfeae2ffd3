import Switchboard
import Synchronization

/// What a mult does when a tap's buffer is full.
public enum TapPolicy: String, Sendable, CaseIterable {
    /// Wait for room: the slowest tap sets the pace and back-pressure reaches the sender
    /// (core.async's default).
    case block
    /// Drop the new item for this tap (counted).
    case dropNewest
    /// Drop this tap's oldest buffered item to make room (counted).
    case dropOldest
    /// Close and remove the tap (its consumer sees the end; counted as one drop).
    case disconnect

    /// The buffer a tap with this policy and capacity uses.
    func buffer(_ capacity: Int) -> ChanBuffer {
        switch self {
        case .block, .disconnect: .fixed(max(1, capacity))
        case .dropNewest: .dropping(max(1, capacity))
        case .dropOldest: .sliding(max(1, capacity))
        }
    }
}

/// One subscriber's view of a mult or pub: its own buffer, policy and counters.
///
/// Iterate the tap (or its `chan`) to receive; `cancel()` removes it. A tap whose source
/// closes, or that is disconnected by its policy, ends like a closed channel.
public final class Tap<Element: Sendable>: Sendable, AsyncSequence {
    /// Distinguishes taps of one source.
    public let id: UInt64
    /// A label for the console (`sse#12`, `console-tail`, …).
    public let name: String
    /// What happens when the buffer is full.
    public let policy: TapPolicy
    /// The tap's buffer; receive from it.
    public let chan: Chan<Element>
    private let extraDrops = Atomic<Int>(0)
    private let state = Mutex<(disconnected: Bool, detach: (@Sendable () -> Void)?, onDisconnect: (@Sendable () -> Void)?)>((false, nil, nil))

    init(id: UInt64, name: String, policy: TapPolicy, capacity: Int) {
        self.id = id
        self.name = name
        self.policy = policy
        self.chan = Chan(policy.buffer(capacity))
    }

    func onCancel(_ detach: @escaping @Sendable () -> Void) {
        state.withLock { $0.detach = detach }
    }

    /// Removes the tap from its source and closes it; buffered items still drain. Idempotent.
    public func cancel() {
        let detach = state.withLock { s in
            defer { s.detach = nil }
            return s.detach
        }
        detach?()
        chan.close()
    }

    @usableFromInline func disconnect(lost: Int) {
        extraDrops.add(lost, ordering: .relaxed)
        let hook = state.withLock { s in
            s.disconnected = true
            defer { s.onDisconnect = nil }
            return s.onDisconnect
        }
        cancel()
        hook?()
    }

    /// Runs `action` when the `disconnect` policy removes this tap (at once if it already
    /// did): a consumer blocked elsewhere, say on a socket that does not drain, can close
    /// its connection instead of waiting to notice. Only the last action set runs.
    public func whenDisconnected(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s in
            if !s.disconnected { s.onDisconnect = action }
            return s.disconnected
        }
        if now { action() }
    }

    /// Whether the `disconnect` policy removed this tap.
    public var isDisconnected: Bool { state.withLock { $0.disconnected } }

    /// Delivered, dropped, buffered and capacity, as the console shows them.
    public var counters: TapCounters {
        let s = chan.stats
        return TapCounters(
            delivered: s.puts - s.dropped, dropped: s.dropped + extraDrops.load(ordering: .relaxed),
            buffered: s.count, capacity: s.buffer.capacity)
    }

    public func makeAsyncIterator() -> Chan<Element>.AsyncIterator { chan.makeAsyncIterator() }
}

/// A tap's figures.
public struct TapCounters: Sendable, Equatable {
    /// Items that entered the tap's buffer.
    public var delivered: Int
    /// Items this tap lost to its policy.
    public var dropped: Int
    /// Items waiting in the buffer now.
    public var buffered: Int
    /// The buffer's size.
    public var capacity: Int
}

extension ConfigReader {
    /// A slow-consumer policy field (`block`, `dropNewest`, `dropOldest`, `disconnect`).
    public func tapPolicy(_ key: String = "policy", default fallback: TapPolicy) -> TapPolicy {
        TapPolicy(rawValue: oneOf(key, TapPolicy.allCases.map(\.rawValue), default: fallback.rawValue)) ?? fallback
    }
}
