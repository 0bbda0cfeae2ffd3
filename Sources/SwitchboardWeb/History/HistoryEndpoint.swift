import HTTPTypes
import Hummingbird
import Switchboard
import SwitchboardChannels

/// The `history` endpoint: `GET /history` pages through a store's messages.
///
/// `?room=` (every room when absent), `?before=<id>` (older, newest first), `?after=<id>`
/// (newer, oldest first), neither (the latest, newest first), `?limit=` (default 50, at most
/// `maxLimit`). Answers `{"messages": [...], "next": "<id>" | null}`: pass `next` as the same
/// cursor for the following page. A bad cursor or limit is a 400 with the reason.
public final class HistoryEndpoint: HTTPEndpoint {
    public let mount: EndpointMount
    private let store: Dependency<any MessageStore>
    private let path: String
    private let defaultRoom: String
    private let defaultLimit: Int
    private let maxLimit: Int
    private let auth: EdgeAuth

    init(_ context: ComponentContext) {
        mount = EndpointMount(context)
        auth = EdgeAuth(context)
        store = context.dependency("store", as: (any MessageStore).self, "the store whose messages are served")
        let c = context.config
        path = context.routePath(default: "/history")
        defaultRoom = c.string("defaultRoom", default: Message.defaultRoom)
        maxLimit = c.int("maxLimit", default: 500, in: 1...10_000)
        defaultLimit = min(maxLimit, c.int("limit", default: 50, in: 1...10_000))
        context.claimRoute("GET", path)
    }

    /// The component type.
    public static let type = ComponentType(
        "history", summary: "GET /history: pages of stored messages by room, before or after an id."
    ) { HistoryEndpoint($0) }

    public func start() async throws {
        let store = try store.get()
        try mount.mount([HTTPRoute(.get, path) { [self] request, _ in await page(request, store) }])
        auth.announce()
    }

    func page(_ request: Request, _ store: any MessageStore) async -> Response {
        var query: HistoryQuery
        switch Self.query(request.query, defaultRoom: defaultRoom, defaultLimit: defaultLimit, maxLimit: maxLimit) {
        case .success(let q): query = q
        case .failure(let problem): return .error(.badRequest, problem.message, ["parameter": .string(problem.parameter)])
        }
        // A private message comes only to its two parties; a token reads only its rooms.
        switch await auth.viewer(request, room: query.room) {
        case .refused(let refusal, _): return refusal
        case .viewer(let viewer, _):
            if query.room == nil, viewer.rooms != nil {
                return .error(.forbidden, "name a room (?room=): this token does not allow every room", ["reason": "forbiddenRoom"])
            }
            query.viewer = viewer.historyViewer
        }
        do {
            let page = try await store.history(query)
            return .json(.ok, ["messages": .array(page.messages.map(\.json)), "next": page.next.map { .string($0.description) } ?? .null])
        } catch {
            var h = HTTPFields()
            h[.retryAfter] = "5"
            return .error(.serviceUnavailable, "history is not available: \(error)", headers: h)
        }
    }

    struct Problem: Error {
        let parameter: String
        let message: String
    }

    /// Reads `room`, `before`, `after` and `limit`.
    static func query(_ q: (String) -> String?, defaultRoom: String, defaultLimit: Int, maxLimit: Int) -> Result<HistoryQuery, Problem> {
        func id(_ key: String) -> Result<MessageID?, Problem> {
            guard let text = q(key) else { return .success(nil) }
            guard let id = MessageID(text) else {
                return .failure(Problem(parameter: key, message: "\"\(key)\" must be \(MessageID.expected), not \"\(text.prefix(40))\""))
            }
            return .success(id)
        }
        let before: MessageID?, after: MessageID?
        switch (id("before"), id("after")) {
        case (.failure(let p), _), (_, .failure(let p)): return .failure(p)
        case (.success(let b), .success(let a)): (before, after) = (b, a)
        }
        if before != nil, after != nil {
            return .failure(Problem(parameter: "before", message: "give \"before\" or \"after\", not both"))
        }
        var limit = defaultLimit
        if let text = q("limit") {
            guard let n = Int(text), (1...maxLimit).contains(n) else {
                return .failure(Problem(parameter: "limit", message: "\"limit\" must be a whole number from 1 to \(maxLimit), not \"\(text.prefix(40))\""))
            }
            limit = n
        }
        let room = q("room").flatMap { $0.isEmpty ? nil : $0 }
        let cursor: HistoryQuery.Cursor = before.map { .before($0) } ?? after.map { .after($0) } ?? .latest
        return .success(HistoryQuery(room: room, defaultRoom: defaultRoom, cursor: cursor, limit: limit))
    }

    public func inspect() async -> JSONValue {
        ["path": .string(path), "store": .string(store.target), "limit": .int(defaultLimit), "maxLimit": .int(maxLimit)]
    }
}
