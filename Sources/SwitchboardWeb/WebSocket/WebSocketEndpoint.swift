import DequeModule
import Foundation
import HTTPTypes
import NIOCore
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `websocket` endpoint: JSON frames both ways.
///
/// Inbound `{"text": …, "room"?: …}` goes onto the channel as the sender (named by
/// `?name=` in the URL or a first frame `{"name": …}`), answered by
/// `{"type": "ack", "id": …}`; outbound, every message of the source arrives as
/// `{"type": "message", "id": …, "from": …, "text": …, …}`. The handshake, ping and close are
/// handled on the connection's event loop (`WebSocketWire`); a session holds no task while idle.
///
/// With a store in the `store` slot, acks mean "stored" (see `ack`); with one in the `history`
/// slot, a client that connects with `?lastEventId=<id>` (or sends `{"resume": "<id>"}`) first
/// gets the messages after that id from the store, then `{"type": "resumed", …}`.
public final class WebSocketEndpoint: ClientCounting {
    struct Config {
        var path: String
        var wait: Duration
        var capacity: Int
        var maxMessageSize: Int
        var stream: StreamSettings
        /// How often an idle session is pinged (nil: never); a ping still unanswered at the
        /// next one closes the connection.
        var ping: Duration?

        init(_ context: ComponentContext) {
            let c = context.config
            path = context.routePath(default: "/ws")
            wait = c.duration("wait", default: .seconds(2))
            capacity = c.int("capacity", default: 1024, in: 1...1_000_000)
            maxMessageSize = c.int("maxMessageSize", default: 65536, in: 16...16_777_216)
            stream = StreamSettings(c)
            let ping = c.duration("ping", default: .seconds(30), in: .zero...Duration.seconds(86_400))
            if ping > .zero, ping < .milliseconds(10) {
                c.issue(.invalidValue, "ping", "a ping interval is at least 10ms (0 turns pings off)")
            }
            self.ping = ping == .zero ? nil : ping
            context.claimRoute("GET", path)
        }
    }

    struct Session {
        let name: String?
        let room: String?
        let subscriber: WSSubscriber
        let since: Date
    }

    private let name: String
    /// The running part: the stream hub its sessions' live sides are in.
    let running = Mutex<StreamHub<WSEvent>?>(nil)
    /// The last events dispatched (with a `history` store): a resume reads the store, and then
    /// these for what was dispatched but not yet committed when it read — without them a
    /// message fanned out just before a session joined, and committed just after its store
    /// read, would reach it neither way (SSE's history ring does the same for SSE).
    let recent = Mutex(Deque<WSEvent>())
    static let recentCapacity = 1024
    let streamTotals = StreamTotals()
    private let mount: EndpointMount
    private let source: Dependency<any MessageFanout>
    private let channel: Dependency<any MessageSink>
    let config: Config
    private let intake: Intake
    let store: Dependency<any MessageStore>?
    let sessions = Mutex<[UInt64: Session]>([:])

    /// Sessions connected now.
    public var connectedClients: Int { sessions.withLock { $0.count } }
    let nextSession = Atomic<UInt64>(0)
    private let draining = Atomic<Bool>(false)
    let auth: EdgeAuth
    let presence: PresenceLink

    init(_ context: ComponentContext) {
        name = context.name
        mount = EndpointMount(context)
        source = context.dependency("source", as: (any MessageFanout).self, "the mult (or pub) whose messages are sent out")
        channel = context.dependency("channel", as: (any MessageSink).self, "the channel inbound messages are put on")
        store = context.optionalDependency("history", as: (any MessageStore).self, "the store a client resumes from (?lastEventId=)")
        config = Config(context)
        intake = Intake(context, defaultRoom: config.stream.defaultRoom)
        auth = EdgeAuth(context)
        presence = PresenceLink(context)
    }

    /// The component type.
    public static let type = ComponentType(
        "websocket", summary: "WebSocket chat: JSON frames in (onto a channel) and out (from a mult)."
    ) { WebSocketEndpoint($0) }

    public func start() async throws {
        draining.store(false, ordering: .relaxed)
        let fanout = try source.get()
        let sink = try channel.get()
        // Each batch is encoded once and handed to each connection's event loop, with no task
        // per session.
        var record: (@Sendable ([WSEvent]) -> Void)?
        if store != nil {
            record = { [weak self] events in
                self?.recent.withLock { ring in
                    ring.append(contentsOf: events)
                    if ring.count > Self.recentCapacity { ring.removeFirst(ring.count - Self.recentCapacity) }
                }
            }
        }
        let r = StreamHub<WSEvent>(totals: streamTotals, encode: { [defaultRoom = config.stream.defaultRoom] in
            WSEvent($0, text: Self.frame($0), defaultRoom: defaultRoom)
        }, record: record)
        try r.feed(from: fanout, tapName: "websocket:\(name)", capacity: config.capacity)
        if let period = config.ping { r.keepAlive(every: { period }) }
        running.withLock { $0 = r }
        // A handshake is served on its connection; a plain GET gets 426, or with auth 401 or
        // 403 with the reason, as the handshake would.
        let route = HTTPRoute(.get, config.path, upgrade: WebSocketSessions(endpoint: self, sink: sink)) { [self] request, _ in
            let room = request.query("room").flatMap { $0.isEmpty ? nil : $0 }
            switch await auth.viewer(request, room: room) {
            case .refused(let refusal, _): return refusal
            case .viewer(let viewer, _):
                let asked = request.query("presence")
                if case .refused(let refusal) = viewer.presenceRoom(asked: asked, room: room, defaultRoom: config.stream.defaultRoom) { return refusal }
            }
            var headers = HTTPFields()
            headers[.upgrade] = "websocket"
            return .error(.upgradeRequired, "this is a WebSocket endpoint: connect with an Upgrade: websocket request", headers: headers)
        }
        try mount.mount([route])
        auth.announce()
    }

    public func stop() async throws {
        mount.unmount()
        await halt()
    }

    public func suspend() async throws -> (any Sendable)? {
        mount.suspend()
        await halt()
        return SuspendedRoutes()
    }

    public func release(_ state: any Sendable) async {
        mount.release()
    }

    /// Refuses new inbound messages while the system drains before a stop; delivery goes on.
    public func drain(until deadline: ContinuousClock.Instant) async {
        draining.store(true, ordering: .relaxed)
    }

    /// Leaves the source and ends every session, at the `drain` pace: each gets a close frame
    /// (1012, service restart) and its connection closes (clients reconnect, and resume).
    private func halt() async {
        await running.withLock({ s in defer { s = nil }; return s })?.halt(pace: config.stream.drain)
    }

    /// Messages delivered to and dropped for sessions, those gone included.
    var totals: (delivered: Int, dropped: Int) {
        streamTotals.adding(sessions.withLock { $0.values.map { ($0.subscriber.delivered, $0.subscriber.dropped) } })
    }

    func count(_ key: InputCount) { intake.counts.count(key) }

    static func query(_ path: String) -> [String: String] {
        guard let q = path.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        return MessageInput.formFields(String(q))
    }

    static func frame(_ message: Message) -> String {
        message.jsonText(type: "message")
    }

    /// The answer to one inbound message: `name` is the session's sender (a hello frame sets it).
    /// A `ref` the client gives (a string or a number, at most 64 characters) comes back in the
    /// answer, so that a client can match each ack to its message (switchboard.js does).
    package func handle(_ message: WSInbound, name: inout String?, identity: Identity? = nil, client: String = "in-process",
                        sink: any MessageSink) async -> JSONObject {
        guard case .text(let text) = message else { return ["type": "error", "error": "binary frames are not supported; send JSON text"] }
        guard let value = try? JSONParser.parse(text).value, case .object(let o) = value else {
            count(.rejected)
            return ["type": "error", "error": "expected a JSON object like {\"text\": \"hi\"}"]
        }
        var ref: JSONValue?
        switch o["ref"] {
        case nil: break
        case .string(let s)? where s.count <= 64: ref = .string(s)
        case .int(let n)?: ref = .int(n)
        default: return ["type": "error", "error": "\"ref\" must be a string of at most 64 characters or an integer"]
        }
        var reply = await answer(value, o, name: &name, identity: identity, client: client, sink: sink)
        if let ref { reply["ref"] = ref }
        return reply
    }

    private func answer(_ value: JSONValue, _ o: JSONObject, name: inout String?, identity: Identity?, client: String,
                        sink: any MessageSink) async -> JSONObject {
        if let n = o["name"] {
            guard case .string(let s) = n, !s.trimmingSpaces().isEmpty, s.count <= MessageInput.maxNameLength else {
                return ["type": "error", "error": "\"name\" must be a non-empty string of at most \(MessageInput.maxNameLength) characters"]
            }
            if let identity, s.trimmingSpaces() != identity.name {
                count(.rejected)
                return ["type": "error", "reason": "spoofedFrom", "error": .string("the token is \(identity.name)'s: the name cannot change")]
            }
            name = s.trimmingSpaces()
            if o["text"] == nil { return ["type": "hello", "name": .string(s.trimmingSpaces())] }
        }
        // The one message decoder: the sender is the session's name (its token's, with auth).
        var fields: MessageFields
        do {
            fields = try MessageFields.decode(value, rules: .init(allowsFrom: false, controlKeys: ["name", "ref"]))
        } catch {
            count(.rejected)
            return ["type": "error", "error": .string(error.description)]
        }
        if draining.load(ordering: .relaxed) {
            return ["type": "error", "error": "the server is shutting down; not taken"]
        }
        guard let from = name else {
            return ["type": "error", "error": "say who you are first: {\"name\": \"…\"} or ?name= in the URL"]
        }
        fields.from = from
        // The one intake; a refusal is an error frame, and the connection stays.
        if let refusal = intake.admit(&fields, identity: identity, client: client) { return Self.frame(refusal) }
        let m = fields.message(defaultFrom: from)
        let outcome = await intake.put(m, on: sink, wait: config.wait)
        switch outcome {
        case .stored, .put(.accepted), .put(.dropped): return ["type": "ack", "id": .string(outcome.id(of: m).description), "status": .string(outcome.status)]
        case .put(.wouldBlock): return ["type": "error", "id": .string(m.id.description), "error": "the channel is full; try again later"]
        case .put(.closed): return ["type": "error", "id": .string(m.id.description), "error": "the channel is not running"]
        case .notStored(let why, let delivered):
            return ["type": "error", "id": .string(m.id.description), "error": .string("not stored: \(why)" + Acknowledger.deliveredNote(delivered)),
                    "delivered": delivered.map(JSONValue.bool) ?? .null]
        }
    }

    /// The error frame of a message the intake refused.
    static func frame(_ refusal: Intake.Refusal) -> JSONObject {
        switch refusal {
        case .spoofedFrom(_, let token):
            ["type": "error", "reason": "spoofedFrom", "error": .string("the token is \(token)'s: the name cannot change")]
        case .forbiddenRoom(let user, let room):
            ["type": "error", "status": 403, "reason": "forbiddenRoom", "error": .string("\(user) may not publish to \(room)")]
        case .textTooLong(let n, let limit):
            ["type": "error", "status": 413, "error": .string("the text is \(n) bytes; the limit is \(limit) (maxTextLength)")]
        case .rateLimited(let wait, _):
            ["type": "error", "status": 429, "reason": "rateLimited", "retryAfter": .int(max(1, wait.retryAfterSeconds)),
             "error": .string("too many messages: try again in \(max(1, wait.retryAfterSeconds))s")]
        }
    }

    static func frame(_ o: JSONObject) -> String { JSONValue.object(o).jsonText }

    public func inspect() async -> JSONValue {
        let s = sessions.withLock { $0 }
        return [
            "path": .string(config.path), "sessions": .int(s.count), "delivered": .int(totals.delivered), "dropped": .int(totals.dropped),
            "policy": .string(config.stream.policy.rawValue), "ack": intake.ack.json, "rateLimit": intake.limiter?.figures ?? .null,
            "history": store.map { .string($0.target) } ?? .null,
            "counts": intake.counts.json,
            "sessionSample": .array(s.sorted { $0.key < $1.key }.prefix(20).map { id, s in
                ["id": .int(Int(id)), "name": s.name.map(JSONValue.string) ?? .null, "room": s.room.map(JSONValue.string) ?? .null,
                 "delivered": .int(s.subscriber.delivered), "dropped": .int(s.subscriber.dropped)]
            }),
        ]
    }
}
