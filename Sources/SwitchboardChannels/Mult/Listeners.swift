import Synchronization

/// The consumers a fan-out (a mult, a pub) runs inside its own loop: each gets every batch, and
/// the fan-out waits for it (like a `block` tap) without a buffer or a task of its own.
public final class Listeners<Element: Sendable>: Sendable {
    @usableFromInline
    struct Listener: Sendable {
        @usableFromInline let deliver: @Sendable ([Element]) async -> Void
        @usableFromInline let end: @Sendable () -> Void
    }

    @usableFromInline let all = Mutex<[UInt64: Listener]>([:])
    private let ids = Atomic<UInt64>(0)
    /// Items handed to listeners, one per listener per item (what a tap's `delivered` counts).
    @usableFromInline let handed = Atomic<Int>(0)

    public init() {}

    /// Adds a listener; returns the call that removes it.
    public func add(_ deliver: @escaping @Sendable ([Element]) async -> Void, end: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let id = ids.add(1, ordering: .relaxed).newValue
        all.withLock { $0[id] = Listener(deliver: deliver, end: end) }
        return { [weak self] in _ = self?.all.withLock { $0.removeValue(forKey: id) } }
    }

    /// Hands `batch` to every listener, one after the other.
    @inlinable public func deliver(_ batch: [Element]) async {
        let current = all.withLock { Array($0.values) }
        if !current.isEmpty { handed.wrappingAdd(current.count &* batch.count, ordering: .relaxed) }
        for listener in current { await listener.deliver(batch) }
    }

    /// The fan-out stopped: every listener's `end` runs, and they are gone.
    @inlinable public func endAll() {
        for listener in all.withLock({ l in defer { l.removeAll() }; return Array(l.values) }) { listener.end() }
    }

    /// How many there are.
    public var count: Int { all.withLock { $0.count } }

    /// Items handed to listeners so far, one per listener per item.
    public var delivered: Int { handed.load(ordering: .relaxed) }
}
