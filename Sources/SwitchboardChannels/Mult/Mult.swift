import Synchronization

/// Fans every item of a source channel out to all its taps (core.async's `mult`).
///
/// ```swift
/// let source = Chan<String>(.fixed(64))
/// let mult = Mult(source)
/// let a = mult.tap(name: "a"), b = mult.tap(name: "b", policy: .dropOldest, capacity: 8)
/// let pump = Task { await mult.run() }
/// ```
///
/// - Important: `run()` takes from the source until it closes or the task is cancelled.
///   With `block` taps the slowest tap sets the pace; other policies never wait. Taps may
///   be added and removed at any time; a removed or disconnected tap never blocks the others.
///   When the source closes the taps close too, unless `keepTapsOpen` was asked for.
public final class Mult<Element: Sendable>: Sendable {
    /// The channel the mult takes from.
    public let source: Chan<Element>
    @usableFromInline let taps = Fanout<Element>()
    @usableFromInline let keepTapsOpen: Bool
    @usableFromInline let batchSize: Int
    @usableFromInline let listeners = Listeners<Element>()
    @usableFromInline let delivering = Atomic<Bool>(false)

    /// Whether a batch taken from the source is still on its way to the consumers.
    public var isDelivering: Bool { delivering.load(ordering: .acquiring) }

    /// A mult over `source`. `keepTapsOpen` leaves taps open when the source closes.
    public init(_ source: Chan<Element>, keepTapsOpen: Bool = false, batchSize: Int = 256) {
        self.source = source
        self.keepTapsOpen = keepTapsOpen
        self.batchSize = max(1, batchSize)
    }

    /// Adds a tap with its own buffer of `capacity` items and its slow-consumer `policy`.
    public func tap(name: String = "tap", policy: TapPolicy = .block, capacity: Int = 64) -> Tap<Element> {
        taps.tap(name: name, policy: policy, capacity: capacity)
    }

    /// Runs `deliver` with every batch inside the mult's own loop, before the taps get it, and
    /// `end` once the mult stops; returns the call that removes it.
    ///
    /// A listener is a tap without a buffer or a task: the mult waits for it (like a `block`
    /// tap), and saves the hand-over to a task of its own. It must not wait for long.
    public func listen(_ deliver: @escaping @Sendable ([Element]) async -> Void, end: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        listeners.add(deliver, end: end)
    }

    /// Removes `tap` (same as `tap.cancel()`).
    public func untap(_ tap: Tap<Element>) { tap.cancel() }

    /// The current taps.
    public var currentTaps: [Tap<Element>] { taps.snapshot }

    /// Delivered into and dropped by all taps there have been; buffered in the current ones.
    public var tapTotals: (delivered: Int, dropped: Int, buffered: Int) { taps.totals }

    /// Moves items from the source to the taps until the source is closed and drained, or
    /// the task is cancelled; then closes the taps (see `keepTapsOpen`).
    @inlinable public func run() async {
        while !Task.isCancelled {
            let batch = await source.receive(upTo: batchSize)
            if batch.isEmpty { break }
            delivering.store(true, ordering: .releasing)
            defer { delivering.store(false, ordering: .releasing) }
            // Listeners first: their delivery cannot be cut short by cancellation, so a batch
            // taken from the source always reaches them even when the mult is stopping.
            await listeners.deliver(batch)
            if await !taps.deliver(batch) { break }
        }
        if !keepTapsOpen || Task.isCancelled { taps.closeAll() }
        listeners.endAll()
    }

    /// Closes every tap now.
    public func closeTaps() { taps.closeAll() }
}

// MARK: - Listeners

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
