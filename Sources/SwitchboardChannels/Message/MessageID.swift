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

    /// Parses the decimal form (as sent in `Last-Event-ID`); `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard let v = UInt64(text), v > 0 else { return nil }
        rawValue = v
    }

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
