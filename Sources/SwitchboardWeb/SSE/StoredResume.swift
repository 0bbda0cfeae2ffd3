import Hummingbird
import Switchboard
import SwitchboardChannels

/// Resuming from a store what the in-memory history no longer has (after a restart, or for a
/// client away longer than the ring holds): shared by the SSE and WebSocket endpoints.
enum StoredResume {
    /// The resume cursor a client sent as `parameter` (`Last-Event-ID`, `lastEventId`,
    /// `resume`): none when absent or empty, else an id, or why it is not one.
    static func cursor(_ text: String?, parameter: String) -> Result<MessageID?, CursorProblem> {
        guard let text, !text.isEmpty else { return .success(nil) }
        guard let id = MessageID(text) else { return .failure(CursorProblem(parameter: parameter, text: text)) }
        return .success(id)
    }

    /// A resume cursor that is not a message id (out of range included).
    struct CursorProblem: Error {
        let parameter: String
        let text: String

        var message: String { "\"\(parameter)\" must be \(MessageID.expected), not \"\(text.prefix(40))\"" }

        /// The 400 that refuses the request, naming the parameter.
        var response: Response { .error(.badRequest, message, ["parameter": .string(parameter)]) }
    }

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
