import Switchboard

/// A component that keeps messages on disk: the `store`. Endpoints use it for acks that mean
/// "on disk" (`ack: stored`), for history pages and for resuming clients across restarts.
public protocol MessageStore: Component {
    /// Says that `id` is about to be put on the store's source, so its commit can be awaited.
    /// Call it before the put (a commit can come before the put returns); then `wait` on the
    /// ticket, or `cancel` it when the put did not happen.
    func expectCommit(of id: MessageID) -> CommitTicket
    /// A page of stored messages.
    func history(_ query: HistoryQuery) async throws -> HistoryPage
    /// The id of the `count`-th newest message that `query`'s room and viewer match (its
    /// cursor and limit are not used), nil when fewer match: where a resume that may send at
    /// most `count` messages starts. The default pages through `history`.
    func id(back count: Int, _ query: HistoryQuery) async throws -> MessageID?
    /// The newest id retention removed (nil when none was): a client resuming from an older
    /// id missed messages nobody has any more.
    func prunedThrough() async throws -> MessageID?
    /// Whether the store gives messages new ids as it commits them (a bus, whose ids follow
    /// the shared log's order): stores downstream of it see those ids, not the ones put.
    var assignsIDs: Bool { get }
    /// Whether messages reach subscribers only through the store's commits (a bus: what is
    /// not in the shared log reaches nobody), so that a failed commit means not delivered.
    var deliversFromCommits: Bool { get }
}

extension MessageStore {
    public func id(back count: Int, _ query: HistoryQuery) async throws -> MessageID? {
        var q = query
        q.cursor = .latest
        var seen = 0
        while seen < count {
            q.limit = min(1000, count - seen)
            let page = try await history(q)
            seen += page.messages.count
            if seen >= count { return page.messages.last?.id }
            guard let next = page.next else { return nil }
            q.cursor = .before(next)
        }
        return nil
    }

    public var assignsIDs: Bool { false }
    public var deliversFromCommits: Bool { false }
}

/// Which stored messages a history request wants.
public struct HistoryQuery: Sendable, Equatable {
    /// Where a page starts.
    public enum Cursor: Sendable, Equatable {
        /// The newest messages (newest first), then older ones before `next`.
        case latest
        /// Messages older than this id, newest first.
        case before(MessageID)
        /// Messages newer than this id, oldest first.
        case after(MessageID)
    }

    /// The room, or nil for every room.
    public var room: String?
    /// The room a message without one counts as.
    public var defaultRoom: String
    /// Where the page starts.
    public var cursor: Cursor
    /// At most this many messages.
    public var limit: Int
    /// Who is reading: private messages (with a recipient) come only when they are its sender
    /// or recipient (none for ""); nil shows every message (operators, the console).
    public var viewer: String?

    /// A query for `limit` messages of `room` from `cursor`, as `viewer` may see them.
    public init(room: String?, defaultRoom: String = Message.defaultRoom, cursor: Cursor = .latest, limit: Int = 50, viewer: String? = nil) {
        self.room = room
        self.defaultRoom = defaultRoom
        self.cursor = cursor
        self.limit = limit
        self.viewer = viewer
    }
}

/// One page of history: the messages in the order asked for, and the cursor of the next page
/// (nil when there is none).
public struct HistoryPage: Sendable, Equatable {
    /// The messages: newest first for `latest` and `before`, oldest first for `after`.
    public var messages: [Message]
    /// The id to pass as the next page's cursor, or nil at the end.
    public var next: MessageID?

    /// A page of `messages` with `next`.
    public init(messages: [Message], next: MessageID?) {
        self.messages = messages
        self.next = next
    }
}

/// Why a message a store was expecting is not on disk.
public enum CommitFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The batch holding it failed to commit (the store is `failed`).
    case writeFailed(String)
    /// The connection went away while the batch holding it was being committed: it may be
    /// on disk (and, through a bus, delivered) or not; nobody can tell yet.
    case outcomeUnknown(String)
    /// The store is not running.
    case notRunning(String)
    /// It did not reach the store in time (a transform dropped it, or the store is behind).
    case timedOut(Duration)

    public var description: String {
        switch self {
        case .writeFailed(let why): "the store could not write it: \(why)"
        case .outcomeUnknown(let why): "the store lost its database while committing it, so it may or may not be stored: \(why)"
        case .notRunning(let store): "the store \"\(store)\" is not running"
        case .timedOut(let d): "not stored within \(d.short)"
        }
    }
}

/// What became of a put that waits for stores to commit the message.
public enum StoredPutOutcome: Sendable {
    /// The store at this index cannot keep it (failed or not running): it was not put.
    case refused(store: Int, CommitFailure)
    /// The put's outcome; when `accepted`, each store's commit, in the order given.
    case put(PutOutcome, commits: [Result<MessageID, CommitFailure>])
}

extension MessageSink {
    /// Puts `message` and, once it is accepted, waits until every store in `stores` has
    /// committed it. The commits are expected before the put (a commit can come before the put
    /// returns), and a store that cannot keep the message refuses it before it is put, so a
    /// retry makes no duplicate. What an `"ack": "stored"` endpoint and the console's `put!` do.
    public func put(_ message: Message, timeout: Duration, committedBy stores: [any MessageStore]) async -> StoredPutOutcome {
        let tickets = stores.map { $0.expectCommit(of: message.id) }
        if let i = tickets.firstIndex(where: { $0.refusal != nil }), let why = tickets[i].refusal {
            tickets.forEach { $0.cancel() }
            return .refused(store: i, why)
        }
        let outcome = await put(message, timeout: timeout)
        guard outcome == .accepted else {
            tickets.forEach { $0.cancel() }
            return .put(outcome, commits: [])
        }
        var commits: [Result<MessageID, CommitFailure>] = []
        for ticket in tickets { commits.append(await ticket.wait()) }
        return .put(.accepted, commits: commits)
    }
}
