import Synchronization

/// A channel with core.async's semantics: senders and receivers meet through a buffer
/// (`unbuffered`, `fixed`, `dropping` or `sliding`), with back-pressure, close, and an
/// optional transform applied as items enter.
///
/// ```swift
/// let chan = Chan<Int>(.fixed(16))
/// Task { for i in 1...3 { await chan.send(i) }; chan.close() }
/// var got: [Int] = []
/// for await i in chan { got.append(i) }   // [1, 2, 3]
/// ```
///
/// - Important: After `close()` buffered items still drain, then receivers see the end
///   (`nil`). A send to a closed channel, or one that was waiting when the channel closed,
///   is `.closed`: not accepted. Cancelling a waiting send or receive removes it and leaves
///   the channel consistent (a cancelled send is `.cancelled`, a cancelled receive `nil`).
///   There is no limit on pending operations (core.async asserts at 1024): memory is the
///   only bound. Dropped items are counted in `stats.dropped`.
public final class Chan<Element: Sendable>: Sendable {
    @usableFromInline let state: Mutex<ChanState<Element>>
    @usableFromInline let waiterIDs = Atomic<UInt64>(0)

    /// A channel with `buffer` and an optional transform run on each item as it enters.
    ///
    /// On an unbuffered channel the transform runs at the hand-over; extra outputs of an
    /// expanding transform wait in the channel for the next receivers.
    public init(_ buffer: ChanBuffer = .unbuffered, transform: Transform<Element, Element>? = nil) {
        state = Mutex(ChanState(buffer, transform: transform))
    }

    /// The buffer kind and size.
    public var buffer: ChanBuffer { state.withLock { $0.kind } }

    /// The channel's figures now.
    public var stats: ChanStats { state.withLock { $0.stats } }

    /// Whether the channel is closed.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Replaces the transform for items entering from now on (buffered items stay as they are).
    @inlinable public func replaceTransform(_ transform: Transform<Element, Element>?) {
        state.withLock { $0.stepper = transform?.makeStepper() }
    }

    // MARK: Sending

    /// Sends `item`, waiting while a `fixed` buffer is full (or, unbuffered, until a
    /// receiver takes it).
    @inlinable @discardableResult
    public func send(_ item: Element) async -> SendResult {
        var wakeups = ChanState<Element>.Wakeups()
        let fast = state.withLock { $0.trySend(item, &wakeups) }
        if !wakeups.isEmpty { wakeups.resumeAll() }
        if let fast { return fast }
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<SendResult, Never>) in
                var wakeups = ChanState<Element>.Wakeups()
                if Task.isCancelled {
                    continuation.resume(returning: .cancelled)
                    return
                }
                state.withLock { $0.send(item, id: id, continuation, &wakeups) }
                wakeups.resumeAll()
            }
        } onCancel: {
            state.withLock { $0.cancelSender(id) }?.resume(returning: .cancelled)
        }
    }

    /// Sends `item` only if that needs no waiting.
    @inlinable @discardableResult
    public func offer(_ item: Element) -> OfferResult {
        var wakeups = ChanState<Element>.Wakeups()
        let result = state.withLock { $0.trySend(item, &wakeups) }
        wakeups.resumeAll()
        switch result {
        case .accepted?: return .accepted
        case .dropped?: return .dropped
        case .closed?, .cancelled?: return .closed
        case nil: return .wouldBlock
        }
    }

    /// Offers items in order without waiting, under one lock; returns how many entered (an
    /// item dropped by a dropping or sliding buffer counts as entered).
    @inlinable @discardableResult
    public func offer(contentsOf items: some Collection<Element> & Sendable) -> Int {
        var wakeups = ChanState<Element>.Wakeups()
        let n = state.withLock { $0.offer(contentsOf: items, &wakeups) }
        wakeups.resumeAll()
        return n
    }

    // MARK: Receiving

    /// Receives the next item, waiting for one; `nil` once the channel is closed and drained
    /// (or when the task is cancelled while waiting).
    @inlinable public func receive() async -> Element? {
        var wakeups = ChanState<Element>.Wakeups()
        let fast = state.withLock { $0.tryReceive(&wakeups) }
        // Even a receive that must wait may have let filtered senders go.
        if !wakeups.isEmpty { wakeups.resumeAll() }
        if let fast { return fast }
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Element?, Never>) in
                var wakeups = ChanState<Element>.Wakeups()
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                    return
                }
                state.withLock { $0.receive(id: id, continuation, &wakeups) }
                wakeups.resumeAll()
            }
        } onCancel: {
            state.withLock { $0.cancelReceiver(id) }?.resume(returning: nil)
        }
    }

    /// Receives an item only if one is ready; `nil` otherwise (also when closed and drained).
    @inlinable public func poll() -> Element? {
        var wakeups = ChanState<Element>.Wakeups()
        let result = state.withLock { $0.tryReceive(&wakeups) }
        wakeups.resumeAll()
        return result ?? nil
    }

    /// Waits for at least one item, then takes up to `max` under one lock; empty once the
    /// channel is closed and drained (or the task is cancelled). Nothing is allocated for the
    /// batch while it waits: an idle consumer (a WebSocket's tap) holds no buffer.
    @inlinable public func receive(upTo max: Int) async -> [Element] {
        var items: [Element] = []
        var wakeups = ChanState<Element>.Wakeups()
        let open = state.withLock { $0.tryReceive(upTo: max, into: &items, &wakeups) }
        wakeups.resumeAll()
        if !items.isEmpty || !open { return items }
        guard let first = await receive() else { return [] }
        items.append(first)
        var more = ChanState<Element>.Wakeups()
        _ = state.withLock { $0.tryReceive(upTo: max, into: &items, &more) }
        more.resumeAll()
        return items
    }

    // MARK: Closing

    /// Closes the channel: no more items enter; buffered ones still drain. Idempotent.
    @inlinable public func close() {
        var wakeups = ChanState<Element>.Wakeups()
        state.withLock { $0.close(&wakeups) }
        wakeups.resumeAll()
    }
}

extension Chan: AsyncSequence {
    /// Iterates until the channel is closed and drained.
    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline let chan: Chan

        @inlinable init(chan: Chan) { self.chan = chan }

        @inlinable public mutating func next() async -> Element? {
            await chan.receive()
        }

        @inlinable public mutating func next(isolation actor: isolated (any Actor)?) async -> Element? {
            await chan.receive()
        }
    }

    @inlinable public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(chan: self)
    }
}
