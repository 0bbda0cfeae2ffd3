import Foundation
import Synchronization

/// A message's identity: unique and ordered within the system, the same everywhere (SSE
/// `id:`, WebSocket frames, `webhook-id`, the `Last-Event-ID` resume cursor).
///
/// The value is microseconds since 1970, bumped by one where two messages would share a
/// microsecond, so ids also keep growing across restarts of the process.
public struct MessageID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The numeric value.
    public let rawValue: UInt64

    /// An id with this value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The greatest id a store can hold (a signed 64-bit column): 9223372036854775807.
    public static let greatest = MessageID(rawValue: UInt64(Int64.max))

    /// Parses the decimal form (as sent in `Last-Event-ID`): a whole number from 1 to
    /// `greatest`; `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard let v = UInt64(text), v > 0, v <= Self.greatest.rawValue else { return nil }
        rawValue = v
    }

    /// An id read back from a store's signed column; `nil` for a value no id has (zero or
    /// below, from a damaged or hand-edited file).
    public init?(stored value: some BinaryInteger) {
        guard value > 0, let v = UInt64(exactly: value), v <= Self.greatest.rawValue else { return nil }
        rawValue = v
    }

    /// The value as a store's signed column holds it; ids past `greatest` (which no parser
    /// accepts) clamp to it.
    public var storedValue: Int64 { Int64(clamping: rawValue) }

    /// What a client is told when a text is not an id: the range, in words.
    public static let expected = "a message id (a whole number from 1 to \(greatest.rawValue))"

    /// A fresh id, greater than every id made before it in this process.
    public static func next() -> MessageID {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
        return MessageID(rawValue: last.withLock { last in
            last = max(last + 1, now)
            return last
        })
    }

    /// Makes every later `next()` greater than `id`: a store calls it on start with the newest
    /// id it holds, so ids keep growing after a restart even if the clock moved back.
    public static func advance(past id: MessageID) {
        last.withLock { $0 = max($0, id.rawValue) }
    }

    private static let last = Mutex<UInt64>(0)

    public var description: String { String(rawValue) }

    public static func < (lhs: MessageID, rhs: MessageID) -> Bool { lhs.rawValue < rhs.rawValue }
}
