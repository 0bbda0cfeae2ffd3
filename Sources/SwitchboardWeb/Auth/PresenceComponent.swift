import Foundation
import Hummingbird
import Switchboard
import SwitchboardChannels
import Synchronization

/// An endpoint's optional `presence` slot and `presenceEvents` field.
struct PresenceLink {
    let presence: Dependency<PresenceComponent>?
    /// Whether the endpoint tells its clients of joins and leaves.
    let events: Bool

    init(_ context: ComponentContext) {
        presence = context.optionalDependency("presence", as: PresenceComponent.self, "counts who is connected, per room")
        events = context.config.bool("presenceEvents", default: false)
        if events, presence == nil { context.config.issue(.invalidValue, "presenceEvents", "presenceEvents needs a presence slot") }
    }

    /// Counts `user` in `room` (nothing without a name or a presence component); the call
    /// returned counts them out.
    func join(_ user: String?, room: String) -> @Sendable () -> Void {
        guard let user, let p = try? presence?.get() else { return {} }
        return p.join(user: user, room: room)
    }

    /// Calls `listener` with each change while `presenceEvents` is on; the call returned stops.
    func listen(_ listener: @escaping @Sendable (PresenceChange) -> Void) -> @Sendable () -> Void {
        guard events, let p = try? presence?.get() else { return {} }
        return p.listen(listener)
    }
}

/// A user joining or leaving a room (their first connection to it, or their last one gone).
public struct PresenceChange: Sendable, Equatable {
    public enum Kind: String, Sendable { case join, leave }
    public let kind: Kind
    public let user: String
    public let room: String
    /// Who is in the room after the change.
    public let online: [String]

    var json: JSONValue {
        ["type": "presence", "event": .string(kind.rawValue), "user": .string(user), "room": .string(room),
         "online": .array(online.map(JSONValue.string))]
    }
}

/// The `presence` component: who is connected, per room, across the SSE and WebSocket
/// endpoints that name it in their `presence` slot; several connections of one user count once.
///
/// ```json
/// "presence": { "type": "presence", "path": "/presence", "using": { "server": "http", "auth": "auth" } }
/// ```
///
/// `GET /presence?room=lobby` answers `{"room", "online": [names]}` (through the auth slot, if
/// any: the token must allow the room); the console's `who [room]` lists the same. Endpoints
/// with `"presenceEvents": true` tell their clients of joins and leaves (SSE `event: presence`,
/// WebSocket `{"type": "presence"}`).
public final class PresenceComponent: ConsoleCommands {
    private struct State {
        /// room → user → connections.
        var rooms: [String: [String: Int]] = [:]
        var listeners: [UInt64: @Sendable (PresenceChange) -> Void] = [:]
        var nextListener: UInt64 = 0
    }

    private let mount: EndpointMount?
    private let auth: EdgeAuth
    private let path: String
    private let state = Mutex(State())

    init(_ context: ComponentContext) {
        mount = context.using["server"] == nil ? nil : EndpointMount(context)
        auth = EdgeAuth(context)
        path = context.routePath(default: "/presence")
        if mount != nil { context.claimRoute("GET", path) }
    }

    /// The component type.
    public static let type = ComponentType(
        "presence", summary: "Who is connected, per room, over the SSE and WebSocket endpoints that name it (GET /presence, console who).",
        console: ConsoleTopic("who", usage: "who [room]", summary: "who is connected, per room (a command of the presence type)", runsBare: true)
    ) { PresenceComponent($0) }

    public func start() async throws {
        try mount?.mount([HTTPRoute(.get, path) { [self] request, _ in await answer(request) }])
    }

    public func stop() async throws { mount?.unmount() }

    private func answer(_ request: Request) async -> Response {
        guard let room = request.query("room").flatMap({ $0.isEmpty ? nil : $0 }) else {
            return .error(.badRequest, "name the room: /presence?room=lobby", ["parameter": "room"])
        }
        if case .refused(let refusal, _) = await auth.viewer(request, room: room) { return refusal }
        return .json(.ok, ["room": .string(room), "online": .array(online(room).map(JSONValue.string))])
    }

    // MARK: Connections

    /// Counts a connection of `user` to `room`; returns the call that counts it out.
    public func join(user: String, room: String) -> @Sendable () -> Void {
        let change = state.withLock { s -> (PresenceChange, [@Sendable (PresenceChange) -> Void])? in
            let before = s.rooms[room]?[user] ?? 0
            s.rooms[room, default: [:]][user] = before + 1
            guard before == 0 else { return nil }
            return (PresenceChange(kind: .join, user: user, room: room, online: Self.names(s.rooms[room])), Array(s.listeners.values))
        }
        if let (c, listeners) = change { listeners.forEach { $0(c) } }
        let left = Atomic<Bool>(false)
        return { [self] in
            guard !left.exchange(true, ordering: .relaxed) else { return }
            leave(user: user, room: room)
        }
    }

    private func leave(user: String, room: String) {
        let change = state.withLock { s -> (PresenceChange, [@Sendable (PresenceChange) -> Void])? in
            let now = (s.rooms[room]?[user] ?? 1) - 1
            s.rooms[room]?[user] = now > 0 ? now : nil
            if s.rooms[room]?.isEmpty == true { s.rooms[room] = nil }
            guard now == 0 else { return nil }
            return (PresenceChange(kind: .leave, user: user, room: room, online: Self.names(s.rooms[room])), Array(s.listeners.values))
        }
        if let (c, listeners) = change { listeners.forEach { $0(c) } }
    }

    /// Calls `listener` with every join and leave until the returned call stops it.
    public func listen(_ listener: @escaping @Sendable (PresenceChange) -> Void) -> @Sendable () -> Void {
        let id = state.withLock { s in
            s.nextListener += 1
            s.listeners[s.nextListener] = listener
            return s.nextListener
        }
        return { [self] in _ = state.withLock { $0.listeners.removeValue(forKey: id) } }
    }

    /// Connections counted in `room` (a user with two counts twice here, once in `online`).
    public func connections(in room: String) -> Int { state.withLock { $0.rooms[room]?.values.reduce(0, +) ?? 0 } }

    /// Who is in `room`, sorted.
    public func online(_ room: String) -> [String] { state.withLock { Self.names($0.rooms[room]) } }

    private static func names(_ users: [String: Int]?) -> [String] { (users ?? [:]).keys.sorted() }

    // MARK: Console and figures

    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        let rooms = state.withLock { $0.rooms }
        let chosen = words.first.map { [$0] } ?? rooms.keys.sorted()
        let lines = chosen.map { room in "\(room): " + (Self.names(rooms[room]).joined(separator: ", ").nilIfEmpty ?? "nobody") }
        let data = JSONObject(chosen.map { ($0, JSONValue.array(Self.names(rooms[$0]).map(JSONValue.string))) })
        return (lines.isEmpty ? "nobody is connected" : lines.joined(separator: "\n"), .object(data))
    }

    public func inspect() async -> JSONValue {
        let rooms = state.withLock { $0.rooms }
        return ["path": mount == nil ? .null : .string(path),
                "rooms": .object(JSONObject(rooms.keys.sorted().map { ($0, JSONValue.int(rooms[$0]?.count ?? 0)) })),
                "users": .int(Set(rooms.values.flatMap(\.keys)).count), "connections": .int(rooms.values.flatMap(\.values).reduce(0, +))]
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
