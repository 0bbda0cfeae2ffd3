import DequeModule
import Synchronization
import SwitchboardChannels

/// The most recent events, for `Last-Event-ID` resume: a reconnecting client gets every
/// event it missed while they are still here, and is told when some are gone.
final class HistoryRing: Sendable {
    struct Replay {
        var events: [SSEEvent]
        /// Events after the client's id were lost (evicted, or from before this ring began).
        var gap: Bool
        var oldest: MessageID?
    }

    private struct State {
        var capacity: Int
        var maxBytes: Int
        var bytes = 0
        var events: Deque<SSEEvent> = []
        var evictedUpTo: MessageID?

        /// Evicts the oldest events past the count and past the bytes.
        mutating func trim() {
            while events.count > capacity || bytes > maxBytes, let dropped = events.popFirst() {
                bytes -= dropped.bytes.readableBytes
                if let id = dropped.id { evictedUpTo = id }
            }
        }
    }

    private let state: Mutex<State>
    /// Ids below this were made before the ring existed (e.g. by an earlier process).
    let floor: MessageID

    /// A ring of at most `capacity` events and `maxBytes` encoded bytes.
    init(capacity: Int, maxBytes: Int = 16 << 20) {
        state = Mutex(State(capacity: max(0, capacity), maxBytes: max(0, maxBytes)))
        floor = MessageID.next()
    }

    var count: Int { state.withLock { $0.events.count } }
    var capacity: Int { state.withLock { $0.capacity } }
    var bytes: Int { state.withLock { $0.bytes } }
    var maxBytes: Int { state.withLock { $0.maxBytes } }
    /// The id of the newest event kept.
    var newest: MessageID? { state.withLock { $0.events.last?.id } }

    func append(_ event: SSEEvent) {
        state.withLock { s in
            s.events.append(event)
            s.bytes += event.bytes.readableBytes
            s.trim()
        }
    }

    func resize(_ capacity: Int, maxBytes: Int? = nil) {
        state.withLock { s in
            s.capacity = max(0, capacity)
            if let maxBytes { s.maxBytes = max(0, maxBytes) }
            s.trim()
        }
    }

    /// The events after `lastID` in `room` (every room when nil).
    ///
    /// Ids are made when messages are created, so two publishers can put them on a channel
    /// out of id order: the ring is in delivery order, and the replay starts right after the
    /// position of `lastID`. Only when that id is no longer here does it fall back to ids.
    func replay(after lastID: MessageID, room: String?) -> Replay {
        state.withLock { s in
            let matches = { (e: SSEEvent) in room == nil || e.room == room }
            if let at = s.events.firstIndex(where: { $0.id == lastID }) {
                return Replay(events: Array(s.events[s.events.index(after: at)...].lazy.filter(matches)), gap: false, oldest: s.events.first?.id)
            }
            let events = s.events.lazy.filter { e in (e.id.map { $0 > lastID } ?? false) && matches(e) }
            let gap = lastID < floor || (s.evictedUpTo.map { lastID < $0 } ?? false)
            return Replay(events: Array(events), gap: gap, oldest: s.events.first?.id)
        }
    }
}
