import DequeModule

/// The state machine behind `Chan`: buffer, waiting senders and receivers, counters.
///
/// Every mutating call runs under the channel's lock and returns the continuations to resume,
/// which the caller resumes after unlocking (resuming under a lock invites deadlock).
///
/// Invariant: receivers wait only while the buffer is empty; senders wait only while the
/// buffer is full (or, unbuffered, while no receiver waits).
struct ChanState<Element: Sendable>: ~Copyable {
    typealias SendContinuation = UnsafeContinuation<SendResult, Never>
    typealias ReceiveContinuation = UnsafeContinuation<Element?, Never>

    struct Sender {
        let id: UInt64
        let item: Element
        let continuation: SendContinuation
    }

    struct Receiver {
        let id: UInt64
        let continuation: ReceiveContinuation
    }

    /// Continuations to resume once the lock is released.
    struct Wakeups {
        var receivers: [(ReceiveContinuation, Element?)] = []
        var senders: [(SendContinuation, SendResult)] = []

        var isEmpty: Bool { receivers.isEmpty && senders.isEmpty }

        func resumeAll() {
            for (c, v) in receivers { c.resume(returning: v) }
            for (c, r) in senders { c.resume(returning: r) }
        }
    }

    let kind: ChanBuffer
    let capacity: Int
    var buffer: Deque<Element> = []
    var senders: Deque<Sender> = []
    var receivers: Deque<Receiver> = []
    var closed = false
    var stepper: Stepper<Element, Element>?
    var scratch: [Element] = []
    var puts = 0
    var takes = 0
    var dropped = 0
    var nextID: UInt64 = 0

    init(_ kind: ChanBuffer, transform: Transform<Element, Element>?) {
        self.kind = kind
        self.capacity = kind.capacity
        self.stepper = transform?.makeStepper()
    }

    var stats: ChanStats {
        ChanStats(
            buffer: kind, count: buffer.count, puts: puts, takes: takes, dropped: dropped,
            pendingSenders: senders.count, pendingReceivers: receivers.count, isClosed: closed)
    }

    mutating func makeID() -> UInt64 {
        nextID &+= 1
        return nextID
    }

    // MARK: Sending

    /// Whether an item can enter now without waiting.
    var hasRoom: Bool {
        switch kind {
        case .unbuffered: !receivers.isEmpty
        case .fixed: buffer.count < capacity || !receivers.isEmpty
        case .dropping, .sliding: true
        }
    }

    /// Sends without waiting; `nil` means the sender must wait.
    mutating func trySend(_ item: Element, _ wakeups: inout Wakeups) -> SendResult? {
        if closed { return .closed }
        guard hasRoom else { return nil }
        return admit(item, &wakeups)
    }

    /// Sends or enqueues the waiting sender.
    mutating func send(_ item: Element, id: UInt64, _ continuation: SendContinuation, _ wakeups: inout Wakeups) {
        if let result = trySend(item, &wakeups) {
            wakeups.senders.append((continuation, result))
        } else {
            senders.append(Sender(id: id, item: item, continuation: continuation))
        }
    }

    /// Lets `item` in: runs the transform and places each output (to a waiting receiver
    /// first, then into the buffer under its policy).
    mutating func admit(_ item: Element, _ wakeups: inout Wakeups) -> SendResult {
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

    private mutating func place(_ item: Element, _ wakeups: inout Wakeups) -> SendResult {
        if let receiver = receivers.popFirst() {
            takes += 1
            wakeups.receivers.append((receiver.continuation, item))
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
    mutating func tryReceive(_ wakeups: inout Wakeups) -> Element?? {
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
            wakeups.senders.append((sender.continuation, admit(sender.item, &wakeups)))
        }
    }

    /// Moves waiting senders' items into freed buffer room.
    private mutating func refill(_ wakeups: inout Wakeups) {
        while buffer.count < capacity, !closed, let sender = senders.popFirst() {
            wakeups.senders.append((sender.continuation, admit(sender.item, &wakeups)))
        }
    }

    /// Receives or enqueues the waiting receiver.
    mutating func receive(id: UInt64, _ continuation: ReceiveContinuation, _ wakeups: inout Wakeups) {
        if let result = tryReceive(&wakeups) {
            wakeups.receivers.append((continuation, result))
        } else {
            receivers.append(Receiver(id: id, continuation: continuation))
        }
    }

    /// Takes up to `max` buffered items at once (at least one if any is available).
    mutating func tryReceive(upTo max: Int, into out: inout [Element], _ wakeups: inout Wakeups) -> Bool {
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
    mutating func close(_ wakeups: inout Wakeups) {
        guard !closed else { return }
        closed = true
        while let s = senders.popFirst() { wakeups.senders.append((s.continuation, .closed)) }
        if buffer.isEmpty {
            while let r = receivers.popFirst() { wakeups.receivers.append((r.continuation, nil)) }
        }
    }

    mutating func cancelSender(_ id: UInt64) -> SendContinuation? {
        guard let i = senders.firstIndex(where: { $0.id == id }) else { return nil }
        return senders.remove(at: i).continuation
    }

    mutating func cancelReceiver(_ id: UInt64) -> ReceiveContinuation? {
        guard let i = receivers.firstIndex(where: { $0.id == id }) else { return nil }
        return receivers.remove(at: i).continuation
    }

    /// Offers several items without waiting; returns how many were accepted (a dropped item
    /// counts as accepted: the buffer's policy decided its fate).
    mutating func offer(contentsOf items: some Collection<Element>, _ wakeups: inout Wakeups) -> Int {
        var n = 0
        for item in items {
            guard !closed, hasRoom else { break }
            _ = admit(item, &wakeups)
            n += 1
        }
        return n
    }
}
