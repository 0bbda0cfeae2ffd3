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
