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

    /// Counts `viewer` in `room` (nothing without a name or a presence component, or when the
    /// viewer's token does not allow the room: presence follows the rules of messages); the
    /// call returned counts them out.
    func join(_ viewer: Viewer, room: String) -> @Sendable () -> Void {
        guard let user = viewer.name, viewer.rooms?.allows(room) ?? true, let p = try? presence?.get() else { return {} }
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
    /// Whether the user came or went.
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
///
/// With a `bus` slot the instances of a cluster share who is connected: each tells the bus its
/// own users per room and hears the others', so `online`, `GET /presence`, `who` and the join
/// and leave events cover every instance (a user on two instances counts once).
///
/// With an `events` slot (a channel) the backend hears of it too: every `join`, `leave` and
/// `room-empty` becomes a message on that channel — `from` the component's name, in the room,
/// with `data: {"event", "user", "room", "instance", "time", "online"}` — for a `webhook-out`
/// or a component of one's own. An instance puts only the changes it saw happen (a user's
/// first connection anywhere, their last one gone), so a cluster puts each change once.
public final class PresenceComponent: ConsoleCommands {
    private struct State {
        /// room → user → connections, on this instance.
        var rooms: [String: [String: Int]] = [:]
        /// room → users on the other instances, as the bus last said.
        var remote: [String: Set<String>] = [:]
        var listeners: [UInt64: @Sendable (PresenceChange) -> Void] = [:]
        var nextListener: UInt64 = 0
        var unfollow: (@Sendable () -> Void)?

        /// Who is in `room` on this instance.
        func local(_ room: String) -> Set<String> { Set(rooms[room]?.keys.map { $0 } ?? []) }

        /// Who is in `room`, on any instance.
        func online(_ room: String) -> Set<String> { remote[room, default: []].union(local(room)) }

        /// Whether `user` is in `room` on another instance.
        func elsewhere(_ user: String, _ room: String) -> Bool { remote[room]?.contains(user) == true }
    }

    private typealias Changes = ([PresenceChange], [@Sendable (PresenceChange) -> Void])

    private let mount: EndpointMount?
    private let auth: EdgeAuth
    private let bus: Dependency<any PresenceSharing>?
    private let path: String
    private let state = Mutex(State())
    /// Where `join`, `leave` and `room-empty` go as messages, in order, for the backend.
    private let events: Dependency<any MessageSink>?
    private let name: String
    private let instance: String
    private let outbox = Mutex<(continuation: AsyncStream<Message>.Continuation?, pump: Task<Void, Never>?)>((nil, nil))
    private let eventCounts = Mutex<(put: Int, dropped: Int)>((0, 0))

    init(_ context: ComponentContext) {
        mount = context.using["server"] == nil ? nil : EndpointMount(context)
        auth = EdgeAuth(context)
        bus = context.optionalDependency("bus", as: (any PresenceSharing).self, "shares who is connected with the other instances")
        events = context.optionalDependency("events", as: (any MessageSink).self, "a channel for join, leave and room-empty messages, for the backend")
        name = context.name
        instance = context.config.instanceName
        path = context.routePath(default: "/presence")
        if mount != nil { context.claimRoute("GET", path) }
    }

    /// The component type.
    public static let type = ComponentType(
        "presence", summary: "Who is connected, per room, over the SSE and WebSocket endpoints that name it (GET /presence, console who).",
        console: ConsoleTopic("who", usage: "who [room]", summary: "who is connected, per room (a command of the presence type)", runsBare: true)
    ) { PresenceComponent($0) }

    public func start() async throws {
        if let sink = try events?.get() {
            // One pump puts the events in the order they happened; at most 1,024 wait (the
            // oldest go first, counted) if the channel cannot keep up.
            let (stream, continuation) = AsyncStream<Message>.makeStream(bufferingPolicy: .bufferingNewest(1024))
            let pump = Task { [weak self] in
                for await m in stream {
                    // A stop cancels the pump: what still waits is dropped (counted), not put
                    // one second at a time.
                    if Task.isCancelled {
                        self?.eventCounts.withLock { $0.dropped += 1 }
                        continue
                    }
                    let outcome = await sink.put(m, timeout: .seconds(1))
                    self?.eventCounts.withLock { outcome == .accepted ? ($0.put += 1) : ($0.dropped += 1) }
                }
            }
            outbox.withLock { $0 = (continuation, pump) }
        }
        if let bus = try bus?.get() {
            let rooms = state.withLock { $0.rooms }
            for (room, users) in rooms { bus.sharePresence(room: room, users: Set(users.keys)) }
            let unfollow = bus.followPresence { [weak self] in self?.remoteChanged($0) }
            state.withLock { $0.unfollow = unfollow }
        }
        try mount?.mount([HTTPRoute(.get, path) { [self] request, _ in await answer(request) }])
    }

    public func stop() async throws {
        mount?.unmount()
        state.withLock { s in
            defer { s.unfollow = nil }
            return s.unfollow
        }?()
        remoteChanged([:])
        let (continuation, pump) = outbox.withLock { o in
            defer { o = (nil, nil) }
            return o
        }
        continuation?.finish()
        pump?.cancel()
        await pump?.value
    }

    /// Puts a change this instance saw onto the `events` channel (and `room-empty` after the
    /// last one out).
    private func announce(_ change: PresenceChange) {
        guard let continuation = outbox.withLock({ $0.continuation }) else { return }
        let time = Date()
        func message(_ event: String, _ text: String, user: String?) -> Message {
            var data: JSONObject = ["event": .string(event), "room": .string(change.room), "instance": .string(instance),
                                    "time": .string(LifecycleEvent.timestamp(time)), "online": .array(change.online.map(JSONValue.string))]
            data["user"] = user.map(JSONValue.string) ?? .null
            return Message(from: name, text: text, room: change.room, data: .object(data))
        }
        var out = [message(change.kind.rawValue, "\(change.user) \(change.kind == .join ? "joined" : "left") \(change.room)", user: change.user)]
        if change.kind == .leave, change.online.isEmpty { out.append(message("room-empty", "\(change.room) is empty", user: nil)) }
        for m in out {
            if case .dropped = continuation.yield(m) { eventCounts.withLock { $0.dropped += 1 } }
        }
    }

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
        count(user: user, room: room, by: 1)
        let left = Atomic<Bool>(false)
        return { [self] in
            guard !left.exchange(true, ordering: .relaxed) else { return }
            count(user: user, room: room, by: -1)
        }
    }

    /// Counts one connection of `user` to `room` in (`+1`) or out (`-1`). The first in is a
    /// join and the last out a leave: the bus hears of the room's users, and, unless `user`
    /// is still there through another instance, the listeners and the log hear of the change.
    private func count(user: String, room: String, by step: Int) {
        let sharing = try? bus?.get()
        let change = state.withLock { s -> Changes? in
            let before = s.rooms[room]?[user] ?? (step < 0 ? 1 : 0)
            let now = before + step
            s.rooms[room, default: [:]][user] = now > 0 ? now : nil
            if s.rooms[room]?.isEmpty == true { s.rooms[room] = nil }
            guard step > 0 ? before == 0 : now == 0 else { return nil }
            // Told to the bus under the lock, so that the bus hears the changes in order.
            sharing?.sharePresence(room: room, users: s.local(room))
            guard !s.elsewhere(user, room) else { return nil }
            return ([PresenceChange(kind: step > 0 ? .join : .leave, user: user, room: room, online: s.online(room).sorted())], Array(s.listeners.values))
        }
        if let (changes, listeners) = change {
            Self.tell(changes, listeners)
            changes.forEach(announce)
        }
    }

    /// The other instances' users are now `remote`: joins and leaves for whom that changes.
    private func remoteChanged(_ remote: [String: Set<String>]) {
        let (changes, listeners) = state.withLock { s -> Changes in
            var changes: [PresenceChange] = []
            for room in Set(remote.keys).union(s.remote.keys).sorted() {
                let before = s.online(room)
                var after = remote[room, default: []]
                after.formUnion(s.local(room))
                let online = after.sorted()
                changes += after.subtracting(before).sorted().map { PresenceChange(kind: .join, user: $0, room: room, online: online) }
                changes += before.subtracting(after).sorted().map { PresenceChange(kind: .leave, user: $0, room: room, online: online) }
            }
            s.remote = remote
            return (changes, changes.isEmpty ? [] : Array(s.listeners.values))
        }
        Self.tell(changes, listeners)
    }

    private static func tell(_ changes: [PresenceChange], _ listeners: [@Sendable (PresenceChange) -> Void]) {
        for c in changes { for l in listeners { l(c) } }
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

    /// Who is in `room`, on this instance or (with a bus) another, sorted.
    public func online(_ room: String) -> [String] { state.withLock { $0.online(room).sorted() } }

    // MARK: Console and figures

    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        let s = state.withLock { $0 }
        let chosen = words.first.map { [$0] } ?? Set(s.rooms.keys).union(s.remote.keys).sorted()
        let lines = chosen.map { room in "\(room): " + (s.online(room).sorted().joined(separator: ", ").nilIfEmpty ?? "nobody") }
        let data = JSONObject(chosen.map { ($0, JSONValue.array(s.online($0).sorted().map(JSONValue.string))) })
        return (lines.isEmpty ? "nobody is connected" : lines.joined(separator: "\n"), .object(data))
    }

    public func inspect() async -> JSONValue {
        let s = state.withLock { $0 }
        let rooms = Set(s.rooms.keys).union(s.remote.keys).sorted()
        return ["path": mount == nil ? .null : .string(path), "bus": bus.map { .string($0.target) } ?? .null,
                "rooms": .object(JSONObject(rooms.map { ($0, JSONValue.int(s.online($0).count)) })),
                "users": .int(Set(s.rooms.values.flatMap(\.keys)).count), "connections": .int(s.rooms.values.flatMap(\.values).reduce(0, +)),
                "usersElsewhere": .int(s.remote.values.reduce(into: Set<String>()) { $0.formUnion($1) }.count),
                "eventsPut": .int(eventCounts.withLock { $0.put }), "eventsDropped": .int(eventCounts.withLock { $0.dropped })]
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
