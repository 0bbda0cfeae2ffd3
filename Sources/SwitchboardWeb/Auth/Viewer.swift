import HTTPTypes
import Hummingbird
import Switchboard
import SwitchboardChannels

/// Who is reading a stream and what they may see: the rooms their token allows (all without
/// auth), and private messages only when they sent or receive them.
struct Viewer: Sendable, Equatable {
    /// The user's name: the token's `sub`, or `?name=` on an endpoint without auth. Without a
    /// name, no private message is shown.
    let name: String?
    /// The rooms allowed; nil for every room.
    let rooms: RoomPatterns?

    /// Whether a message in `room` between `parties` (nil: not private) is for this viewer.
    func sees(room: String, parties: Parties?) -> Bool {
        if let rooms, !rooms.allows(room) { return false }
        guard let parties else { return true }
        return name != nil && (name == parties.from || name == parties.to)
    }

    func sees(_ message: Message, defaultRoom: String) -> Bool {
        sees(room: message.room ?? defaultRoom, parties: Parties(message))
    }

    /// The name a private message is filtered by in a history query ("" shows none).
    var historyViewer: String { name ?? "" }
}

/// The two ends of a private message.
struct Parties: Sendable, Equatable {
    let from: String
    let to: String

    init?(_ message: Message) {
        guard let to = message.to else { return nil }
        from = message.from
        self.to = to
    }
}

extension EdgeAuth {
    /// The viewer of a streaming request: from its token when the endpoint has auth (a 401
    /// or, for a `?room=` the token does not allow, a 403 otherwise), from `?name=` when not.
    func viewer(_ request: Request, room: String?) async -> ViewerOutcome {
        await viewer(headers: request.headers, query: { request.uri.queryParameters.get($0).map { String($0) } }, room: room)
    }

    /// The same for a request's head and query (a WebSocket upgrade).
    func viewer(headers: HTTPFields, query: (String) -> String?, room: String?) async -> ViewerOutcome {
        switch await identify(headers: headers, query: query) {
        case nil:
            let name = query("name").flatMap { $0.isEmpty ? nil : String($0.prefix(MessageFields.maxNameLength)) }
            return .viewer(Viewer(name: name, rooms: nil), nil)
        case .failure(let why)?:
            return .refused(Response.unauthorized(why), why)
        case .success(let who)?:
            if let room, !who.subscribe.allows(room) {
                return .refused(Response.error(.forbidden, "\(who.name) may not read \(room)", ["reason": "forbiddenRoom", "room": JSONValue.string(room)]), nil)
            }
            return .viewer(Viewer(name: who.name, rooms: who.subscribe.allowsEveryRoom ? nil : who.subscribe), who)
        }
    }
}

extension Viewer {
    /// The room a stream counts its client in for presence: `?presence=ROOM` — so a client that
    /// reads every room (to count what it has not read) is still seen in the one it shows —
    /// else the stream's room, else the endpoint's default room. A room the viewer may not
    /// read is refused with 403, as `?room=` is.
    func presenceRoom(asked: String?, room: String?, defaultRoom: String) -> PresenceRoom {
        guard let asked, !asked.isEmpty else { return .room(room ?? defaultRoom) }
        if let rooms, !rooms.allows(asked) {
            return .refused(Response.error(.forbidden, "\(name ?? "this token") may not read \(asked)",
                                           ["reason": "forbiddenRoom", "room": JSONValue.string(asked), "parameter": "presence"]))
        }
        return .room(asked)
    }
}

/// The room a stream is counted in, or the answer that refuses it.
enum PresenceRoom {
    case room(String)
    case refused(Response)
}

/// A viewer, or the answer that refuses the request.
enum ViewerOutcome {
    case viewer(Viewer, Identity?)
    case refused(Response, AuthFailure?)
}
