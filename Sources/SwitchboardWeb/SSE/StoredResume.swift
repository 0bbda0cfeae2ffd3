import DequeModule
import Hummingbird
import Switchboard
import SwitchboardChannels
import Synchronization

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

    /// Where a resume from `store` of the messages after `lastID` starts: at most `limit` of
    /// them (the newest `limit` when more were missed), read a page at a time. `gap` is set
    /// when messages after `lastID` are not sent (past the limit, or removed by retention).
    static func pages(after lastID: MessageID, room: String?, defaultRoom: String, viewer: String?, limit: Int,
                      pageBytes: Int = 65_536, store: any MessageStore) async throws -> StoredPages {
        let query = HistoryQuery(room: room, defaultRoom: defaultRoom, viewer: viewer)
        var start = lastID
        var truncated = false
        // The message just before the newest `limit`: when it is after the client's id, the
        // client missed more than `limit`, and the resume starts after it.
        let (floor, pruned) = try await ReadGate.resumes.pass {
            (try await store.id(back: limit + 1, query), try await store.prunedThrough())
        }
        if let floor, floor > lastID {
            start = floor
            truncated = true
        }
        var pages = StoredPages(store: store, query: query, cursor: start, pageBytes: pageBytes,
                                gap: truncated || (pruned.map { lastID < $0 } ?? false))
        try await pages.prefetch()
        return pages
    }
}

/// The stored messages a resuming client missed, read from the store a page at a time as the
/// connection takes what went before (`next()` after the previous page was written): a client
/// that does not read holds one page, not its whole replay.
struct StoredPages: Sendable {
    let store: any MessageStore
    let query: HistoryQuery
    /// Messages after this id come next.
    private(set) var cursor: MessageID
    /// About how many bytes of messages a page holds (its size follows the messages').
    let pageBytes: Int
    /// Whether messages after the client's id are not sent.
    let gap: Bool
    private var pageSize = 8
    private var finished = false
    /// The first page, read when the resume starts (its first id is the oldest sent).
    private var first: [Message]?

    init(store: any MessageStore, query: HistoryQuery, cursor: MessageID, pageBytes: Int, gap: Bool) {
        self.store = store
        self.query = query
        self.cursor = cursor
        self.pageBytes = max(1024, pageBytes)
        self.gap = gap
    }

    /// The id of the oldest message the resume sends, if any.
    var oldest: MessageID? { first?.first?.id }

    mutating func prefetch() async throws {
        first = try await read()
    }

    /// The next page, oldest first; empty when there is no more.
    mutating func next() async throws -> [Message] {
        if let page = first {
            first = nil
            return page
        }
        return try await read()
    }

    private mutating func read() async throws -> [Message] {
        guard !finished else { return [] }
        var q = query
        q.cursor = .after(cursor)
        q.limit = pageSize
        let page = try await ReadGate.resumes.pass { [store, q] in try await store.history(q) }
        if page.next == nil { finished = true }
        guard let last = page.messages.last else { return [] }
        cursor = last.id
        // The next page: about `pageBytes` at this page's average size, growing at most 4×.
        let bytes = page.messages.reduce(0) { $0 + $1.text.utf8.count + 160 }
        pageSize = max(1, min(pageSize * 4, 1000, pageBytes * page.messages.count / max(1, bytes)))
        return page.messages
    }
}

/// The ids of the last messages a replay sent (at most `limit`): the live stream, which may
/// have the newest of them too, skips those.
struct RecentIDs {
    let limit: Int
    private(set) var ids = Set<MessageID>()
    private var order: [MessageID] = []
    private var head = 0

    init(limit: Int = 4096) { self.limit = limit }

    mutating func insert(_ id: MessageID) {
        guard ids.insert(id).inserted else { return }
        if order.count < limit {
            order.append(id)
        } else {
            ids.remove(order[head])
            order[head] = id
            head = (head + 1) % limit
        }
    }

    /// The oldest id kept.
    var oldest: MessageID? { order.isEmpty ? nil : order[order.count < limit ? 0 : head] }
}

/// At most `permits` reads at a time, first come first served: a burst of clients resuming
/// from a store waits here, not in the store's own queue, where a history page would wait
/// behind all of them (300 resuming clients held a `GET /history` for 20 s before this).
final class ReadGate: Sendable {
    /// The gate every resume read passes, across endpoints and stores.
    static let resumes = ReadGate(permits: 2)

    private let state: Mutex<(free: Int, waiting: Deque<CheckedContinuation<Void, Never>>)>

    init(permits: Int) {
        state = Mutex((max(1, permits), []))
    }

    /// Runs `read` once a permit is free.
    func pass<T: Sendable>(_ read: @Sendable () async throws -> T) async throws -> T {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                guard s.free > 0 else {
                    s.waiting.append(c)
                    return false
                }
                s.free -= 1
                return true
            }
            if now { c.resume() }
        }
        defer {
            // The permit goes straight to the next in line, if any.
            let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if s.waiting.isEmpty {
                    s.free += 1
                    return nil
                }
                return s.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await read()
    }
}
