import DequeModule

/// The state machine behind `Chan`: buffer, waiting senders and receivers, counters.
///
/// Every mutating call runs under the channel's lock and returns the continuations to resume,
/// which the caller resumes after unlocking (resuming under a lock invites deadlock).
///
/// Invariant: receivers wait only while the buffer is empty; senders wait only while the
/// buffer is full (or, unbuffered, while no receiver waits).
@usableFromInline
struct ChanState<Element: Sendable>: ~Copyable {
    @usableFromInline typealias SendContinuation = UnsafeContinuation<SendResult, Never>
    @usableFromInline typealias ReceiveContinuation = UnsafeContinuation<Element?, Never>

    @usableFromInline

    struct Sender: Sendable {
        @usableFromInline let id: UInt64
        @usableFromInline let item: Element
        @usableFromInline let continuation: SendContinuation

        @inlinable init(id: UInt64, item: Element, continuation: SendContinuation) {
            self.id = id
            self.item = item
            self.continuation = continuation
        }
    }

    @usableFromInline

    struct Receiver: Sendable {
        @usableFromInline let id: UInt64
        @usableFromInline let continuation: ReceiveContinuation

        @inlinable init(id: UInt64, continuation: ReceiveContinuation) {
            self.id = id
            self.continuation = continuation
        }
    }

    /// Continuations to resume once the lock is released. The first of each kind is kept
    /// inline: the common case (one hand-over) allocates nothing.
    @usableFromInline
    struct Wakeups: Sendable {
        @usableFromInline var receiver: (ReceiveContinuation, Element?)?
        @usableFromInline var sender: (SendContinuation, SendResult)?
        @usableFromInline var moreReceivers: [(ReceiveContinuation, Element?)] = []
        @usableFromInline var moreSenders: [(SendContinuation, SendResult)] = []

        @inlinable init() {}

        @usableFromInline var isEmpty: Bool { receiver == nil && sender == nil }

        @inlinable mutating func wake(_ continuation: ReceiveContinuation, with value: Element?) {
            if receiver == nil { receiver = (continuation, value) } else { moreReceivers.append((continuation, value)) }
        }

        @inlinable mutating func wake(_ continuation: SendContinuation, with result: SendResult) {
            if sender == nil { sender = (continuation, result) } else { moreSenders.append((continuation, result)) }
        }

        @inlinable func resumeAll() {
            if let (c, v) = receiver { c.resume(returning: v) }
            for (c, v) in moreReceivers { c.resume(returning: v) }
            if let (c, r) = sender { c.resume(returning: r) }
            for (c, r) in moreSenders { c.resume(returning: r) }
        }
    }

    @usableFromInline let kind: ChanBuffer
    @usableFromInline let capacity: Int
    @usableFromInline var buffer: Deque<Element> = []
    @usableFromInline var senders: Deque<Sender> = []
    @usableFromInline var receivers: Deque<Receiver> = []
    @usableFromInline var closed = false
    @usableFromInline var stepper: Stepper<Element, Element>?
    @usableFromInline var scratch: [Element] = []
    @usableFromInline var puts = 0
    @usableFromInline var takes = 0
    @usableFromInline var dropped = 0

    @inlinable init(_ kind: ChanBuffer, transform: Transform<Element, Element>?) {
        self.kind = kind
        self.capacity = kind.capacity
        self.stepper = transform?.makeStepper()
    }

    var stats: ChanStats {
        ChanStats(
            buffer: kind, count: buffer.count, puts: puts, takes: takes, dropped: dropped,
            pendingSenders: senders.count, pendingReceivers: receivers.count, isClosed: closed)
    }

    // MARK: Sending

    /// Whether an item can enter now without waiting.
    @inlinable var hasRoom: Bool {
        switch kind {
        case .unbuffered: !receivers.isEmpty
        case .fixed: buffer.count < capacity || !receivers.isEmpty
        case .dropping, .sliding: true
        }
    }

    /// Sends without waiting; `nil` means the sender must wait.
    @inlinable mutating func trySend(_ item: Element, _ wakeups: inout Wakeups) -> SendResult? {
        if closed { return .closed }
        guard hasRoom else { return nil }
        return admit(item, &wakeups)
    }

    /// Sends or enqueues the waiting sender.
    @inlinable mutating func send(_ item: Element, id: UInt64, _ continuation: SendContinuation, _ wakeups: inout Wakeups) {
        if let result = trySend(item, &wakeups) {
            wakeups.wake(continuation, with: result)
        } else {
            senders.append(Sender(id: id, item: item, continuation: continuation))
        }
    }

    /// Lets `item` in: runs the transform and places each output (to a waiting receiver
    /// first, then into the buffer under its policy).
    @inlinable mutating func admit(_ item: Element, _ wakeups: inout Wakeups) -> SendResult {
        puts += 1
        guard let stepper else { return place(item, &wakeups) }
        var out = scratch
        out.removeAll(keepingCapacity: true)
        let goesOn = stepper.step(item, &out)
        var result = SendResult.accepted
        for o in out where place(o, &wakeups) == .dropped { result = .dropped }
        scratch = out
        if !goesOn { close(&wakeups) }
        return result
    }

    @inlinable mutating func place(_ item: Element, _ wakeups: inout Wakeups) -> SendResult {
        if let receiver = receivers.popFirst() {
            takes += 1
            wakeups.wake(receiver.continuation, with: item)
            return .accepted
        }
        switch kind {
        case .unbuffered, .fixed:
            // A transform may expand one input to several outputs: core.async lets them all in.
            buffer.append(item)
        case .dropping:
            guard buffer.count < capacity else { dropped += 1; return .dropped }
            buffer.append(item)
        case .sliding:
            guard capacity > 0 else { dropped += 1; return .dropped }
            if buffer.count >= capacity { buffer.removeFirst(); dropped += 1 }
            buffer.append(item)
        }
        return .accepted
    }

    // MARK: Receiving

    /// Receives without waiting: `.some(item)`, `.some(nil)` when closed and drained, or
    /// `nil` when the receiver must wait.
    @inlinable mutating func tryReceive(_ wakeups: inout Wakeups) -> Element?? {
        while true {
            if let item = buffer.popFirst() {
                takes += 1
                refill(&wakeups)
                return .some(item)
            }
            guard let sender = senders.popFirst() else {
                return closed ? .some(nil) : nil
            }
            // Unbuffered (or a filtered item): move a waiting sender's item in and retry.
            let result = admit(sender.item, &wakeups)
            wakeups.wake(sender.continuation, with: result)
        }
    }

    /// Moves waiting senders' items into freed buffer room.
    @inlinable mutating func refill(_ wakeups: inout Wakeups) {
        while buffer.count < capacity, !closed, let sender = senders.popFirst() {
            let result = admit(sender.item, &wakeups)
            wakeups.wake(sender.continuation, with: result)
        }
    }

    /// Receives or enqueues the waiting receiver.
    @inlinable mutating func receive(id: UInt64, _ continuation: ReceiveContinuation, _ wakeups: inout Wakeups) {
        if let result = tryReceive(&wakeups) {
            wakeups.wake(continuation, with: result)
        } else {
            receivers.append(Receiver(id: id, continuation: continuation))
        }
    }

    /// Takes up to `max` buffered items at once (at least one if any is available).
    @inlinable mutating func tryReceive(upTo max: Int, into out: inout [Element], _ wakeups: inout Wakeups) -> Bool {
        // Room for what is there now (buffered, or offered by waiting senders), no more.
        out.reserveCapacity(out.count + Swift.min(max - out.count, buffer.count + senders.count))
        while out.count < max {
            guard let next = tryReceive(&wakeups) else { break }
            guard let item = next else { return !out.isEmpty }
            out.append(item)
        }
        return true
    }

    // MARK: Closing and cancelling

    /// Closes: waiting senders learn their items were not accepted; waiting receivers (the
    /// buffer is empty if any wait) see the end.
    @inlinable mutating func close(_ wakeups: inout Wakeups) {
        guard !closed else { return }
        closed = true
        while let s = senders.popFirst() { wakeups.wake(s.continuation, with: .closed) }
        if buffer.isEmpty {
            while let r = receivers.popFirst() { wakeups.wake(r.continuation, with: nil) }
        }
    }

    @inlinable mutating func cancelSender(_ id: UInt64) -> SendContinuation? {
        guard let i = senders.firstIndex(where: { $0.id == id }) else { return nil }
        return senders.remove(at: i).continuation
    }

    @inlinable mutating func cancelReceiver(_ id: UInt64) -> ReceiveContinuation? {
        guard let i = receivers.firstIndex(where: { $0.id == id }) else { return nil }
        return receivers.remove(at: i).continuation
    }

    /// Offers several items without waiting; returns how many were accepted (a dropped item
    /// counts as accepted: the buffer's policy decided its fate).
    @inlinable mutating func offer(contentsOf items: some Collection<Element>, _ wakeups: inout Wakeups) -> Int {
        var n = 0
        for item in items {
            guard !closed, hasRoom else { break }
            _ = admit(item, &wakeups)
            n += 1
        }
        return n
    }
}

// MARK: - Buffer

/// How a `Chan` holds items between senders and receivers (core.async's buffers).
public enum ChanBuffer: Sendable, Equatable, CustomStringConvertible {
    /// No buffer: a send waits until a receiver takes the item (a rendezvous).
    case unbuffered
    /// Holds up to `n` items; a send to a full buffer waits (back-pressure).
    case fixed(Int)
    /// Holds up to `n` items; a send to a full buffer drops the new item (counted).
    case dropping(Int)
    /// Holds up to `n` items; a send to a full buffer drops the oldest item (counted).
    case sliding(Int)

    /// How many items the buffer holds (0 for unbuffered; negative sizes count as 0).
    public var capacity: Int {
        switch self {
        case .unbuffered: 0
        case .fixed(let n), .dropping(let n), .sliding(let n): max(0, n)
        }
    }

    /// The policy's name as `system.json` writes it.
    public var policyName: String {
        switch self {
        case .unbuffered: "unbuffered"
        case .fixed: "fixed"
        case .dropping: "dropping"
        case .sliding: "sliding"
        }
    }

    public var description: String {
        self == .unbuffered ? "unbuffered" : "\(policyName)(\(capacity))"
    }
}

/// What became of a `send`.
public enum SendResult: Sendable, Equatable {
    /// The item entered the channel (or went straight to a receiver).
    case accepted
    /// The buffer was full and its policy dropped this item (counted in `dropped`).
    case dropped
    /// The channel is closed (or closed while the send waited): the item was not accepted.
    case closed
    /// The sending task was cancelled while it waited: the item was not accepted.
    case cancelled
}

/// What became of an `offer` (a send that never waits).
public enum OfferResult: Sendable, Equatable {
    /// The item entered the channel.
    case accepted
    /// The buffer was full and its policy dropped this item (counted in `dropped`).
    case dropped
    /// The item would have had to wait; it was not accepted.
    case wouldBlock
    /// The channel is closed: the item was not accepted.
    case closed
}

/// A channel's figures at one moment.
public struct ChanStats: Sendable, Equatable {
    /// The buffer kind and size.
    public var buffer: ChanBuffer
    /// Items in the buffer now.
    public var count: Int
    /// Sends and offers accepted since the channel was made.
    public var puts: Int
    /// Items received since the channel was made.
    public var takes: Int
    /// Items dropped by a dropping or sliding buffer.
    public var dropped: Int
    /// Senders waiting for room.
    public var pendingSenders: Int
    /// Receivers waiting for an item.
    public var pendingReceivers: Int
    /// Whether `close()` has been called (or a transform ended the channel).
    public var isClosed: Bool
}
