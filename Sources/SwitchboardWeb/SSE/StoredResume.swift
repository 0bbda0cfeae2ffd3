import Switchboard
import SwitchboardChannels

/// Resuming from a store what the in-memory history no longer has (after a restart, or for a
/// client away longer than the ring holds): shared by the SSE and WebSocket endpoints.
enum StoredResume {
    /// The messages after `lastID` in `room`: from the store, oldest first, then the ring's
    /// that the store does not have yet (not committed). At most `limit`: when more were
    /// missed, the newest `limit` come with `gap` set. `gap` is also set when retention removed
    /// messages after `lastID`.
    static func messages<Event>(
        after lastID: MessageID, room: String?, defaultRoom: String, viewer: String?, limit: Int,
        store: any MessageStore, ring: [Event], id: (Event) -> MessageID?
    ) async throws -> (stored: [Message], ring: [Event], gap: Bool) {
        var stored: [Message] = []
        var cursor = lastID
        var truncated = false
        while true {
            let page = try await store.history(HistoryQuery(room: room, defaultRoom: defaultRoom, cursor: .after(cursor), limit: min(1000, limit + 1), viewer: viewer))
            stored += page.messages
            if stored.count > limit {
                truncated = true
                break
            }
            guard let next = page.next else { break }
            cursor = next
        }
        if truncated {
            let newest = try await store.history(HistoryQuery(room: room, defaultRoom: defaultRoom, cursor: .latest, limit: limit, viewer: viewer))
            stored = newest.messages.reversed().filter { $0.id > lastID }
        }
        let storedIDs = Set(stored.map(\.id))
        let rest = ring.filter { e in id(e).map { !storedIDs.contains($0) } ?? false }
        let pruned = try await store.prunedThrough()
        return (stored, rest, truncated || (pruned.map { lastID < $0 } ?? false))
    }
}
