import Foundation
import HTTPTypes
import HummingbirdWebSocket
import NIOCore
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `websocket` endpoint: JSON frames both ways.
///
/// Inbound `{"text": …, "room"?: …}` goes onto the channel as the sender (named by
/// `?name=` in the URL or a first frame `{"name": …}`), answered by
/// `{"type": "ack", "id": …}`; outbound, every message of the source arrives as
/// `{"type": "message", "id": …, "from": …, "text": …, …}`. Ping and close are handled
/// by the WebSocket layer; a disconnect removes the client's tap.
///
/// With a store in the `store` slot, acks mean "stored" (see `ack`); with one in the `history`
/// slot, a client that connects with `?lastEventId=<id>` (or sends `{"resume": "<id>"}`) first
/// gets the messages after that id from the store, then `{"type": "resumed", …}`.
public final class WebSocketEndpoint: ClientCounting {
    struct Config {
        var path: String
        var wait: Duration
        var policy: TapPolicy
        var capacity: Int
        var bufferBytes: Int
        var maxMessageSize: Int
        var defaultRoom: String
        var maxTextLength: Int
        var resumeLimit: Int

        init(_ context: ComponentContext) {
            let c = context.config
            path = context.routePath(default: "/ws")
            wait = c.duration("wait", default: .seconds(2))
            policy = c.tapPolicy(default: .disconnect)
            capacity = c.int("capacity", default: 1024, in: 1...1_000_000)
            bufferBytes = c.int("bufferBytes", default: 262_144, in: 1024...1_073_741_824)
            maxMessageSize = c.int("maxMessageSize", default: 65536, in: 16...16_777_216)
            defaultRoom = c.string("defaultRoom", default: Message.defaultRoom)
            maxTextLength = MessageInput.maxTextLength(c)
            resumeLimit = c.int("resumeLimit", default: 10_000, in: 1...1_000_000)
            context.claimRoute("GET", path)
        }
    }

    struct Session {
        let name: String?
        let room: String?
        let subscriber: WSSubscriber
        let since: Date
    }

    /// The running part: the listener on the source (or the tap a pump reads, for a source
    /// that cannot run one) and the sessions' live sides, grouped by event loop.
    final class Running: Sendable {
        let subscribers = LoopGroups<WSSubscriber>()
        let hub: Tap<Message>?
        let unlisten = Mutex<(@Sendable () -> Void)?>(nil)
        let pump = Mutex<Task<Void, Never>?>(nil)
        /// Set when the endpoint halts: a session that arrives after is refused.
        let closed = Atomic<Bool>(false)

        init(hub: Tap<Message>?) { self.hub = hub }
    }

    private let name: String
    private let running = Mutex<Running?>(nil)
    /// What sessions that have gone delivered and dropped, so the totals only grow.
    private let retired = Mutex<(delivered: Int, dropped: Int)>((0, 0))
    private let mount: EndpointMount
    private let source: Dependency<any MessageFanout>
    private let channel: Dependency<any MessageSink>
    private let config: Config
    private let ack: Acknowledger
    private let store: Dependency<any MessageStore>?
    private let sessions = Mutex<[UInt64: Session]>([:])

    /// Sessions connected now.
    public var connectedClients: Int { sessions.withLock { $0.count } }
    private let nextSession = Atomic<UInt64>(0)
    private let counts = Mutex<[String: Int]>([:])
    private let draining = Atomic<Bool>(false)
    private let auth: EdgeAuth
    private let limiter: RateLimiter?
    private let presence: PresenceLink

    init(_ context: ComponentContext) {
        name = context.name
        mount = EndpointMount(context)
        source = context.dependency("source", as: (any MessageFanout).self, "the mult (or pub) whose messages are sent out")
        channel = context.dependency("channel", as: (any MessageSink).self, "the channel inbound messages are put on")
        store = context.optionalDependency("history", as: (any MessageStore).self, "the store a client resumes from (?lastEventId=)")
        config = Config(context)
        ack = Acknowledger(context)
        auth = EdgeAuth(context)
        limiter = RateLimiter.Config.read(context.config).map(RateLimiter.init)
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
        let r: Running
        if let listening = fanout as? any MessageListening {
            // Inside the mult's own loop: each batch is encoded once and handed to each
            // connection's event loop, with no task per session.
            r = Running(hub: nil)
            let unlisten = try listening.listen({ [self] batch in await dispatch(batch, r) }, end: {})
            r.unlisten.withLock { $0 = unlisten }
        } else {
            r = Running(hub: try fanout.tap(TapOptions(name: "websocket:\(name)", policy: .block, capacity: config.capacity)))
            r.pump.withLock { $0 = Task { await self.pump(r) } }
        }
        running.withLock { $0 = r }
        // With auth, the handshake itself is refused (no upgrade) for a bad token or a room it
        // does not allow: the request then reaches the plain GET route, which answers 401 or
        // 403 with the reason (a GET without an upgrade that would pass gets 426).
        let plain = HTTPRoute(.get, config.path) { [self] request, _ in
            let room = request.query("room").flatMap { $0.isEmpty ? nil : $0 }
            if case .refused(let refusal, _) = await auth.viewer(request, room: room) { return refusal }
            return .error(.upgradeRequired, "this is a WebSocket endpoint: connect with an Upgrade: websocket request")
        }
        try mount.mount(auth.isOn ? [plain] : [], webSockets: [WebSocketRoute(config.path) { [self] head, connection in
            let query = Self.query(head.path ?? "")
            let headers = head.headerFields
            let room = query["room"].flatMap { $0.isEmpty ? nil : $0 }
            guard case .viewer(let viewer, let identity) = await auth.viewer(headers: headers, query: { query[$0] }, room: room) else {
                count("unauthorized")
                return nil
            }
            connection.limitUnreadBytes(config.bufferBytes)
            return { inbound, outbound, _ in
                try await self.session(query: query, viewer: viewer, identity: identity, client: connection.clientAddress, inbound: inbound, outbound: outbound,
                                       connection: connection, sink: sink)
            }
        }])
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

    /// Leaves the source and ends every session's live side, which ends the session: its
    /// connection closes (clients reconnect, and resume).
    private func halt() async {
        guard let r = running.withLock({ s in defer { s = nil }; return s }) else { return }
        r.closed.store(true, ordering: .sequentiallyConsistent)
        r.unlisten.withLock { $0 }?()
        r.hub?.cancel()
        let pump = r.pump.withLock { $0 }
        pump?.cancel()
        await pump?.value
        await r.subscribers.onEachLoop { $0.end(); return nil }
    }

    /// Reads the hub tap (for sources that cannot run a listener).
    private func pump(_ r: Running) async {
        await r.hub?.forEachBatch { await dispatch($0, r) }
    }

    /// Encodes each message once and hands the batch to every connection's event loop
    /// (waiting for `block` sessions that are behind).
    private func dispatch(_ batch: [Message], _ r: Running) async {
        let events = batch.map { WSEvent($0, text: Self.frame($0), defaultRoom: config.defaultRoom) }
        await r.subscribers.onEachLoop { $0.deliver(events) }
    }

    /// Messages delivered to and dropped for sessions, those gone included.
    var totals: (delivered: Int, dropped: Int) {
        let live: [WSSubscriber] = sessions.withLock { $0.values.map(\.subscriber) }
        var (delivered, dropped) = retired.withLock { $0 }
        for s in live {
            delivered += s.delivered
            dropped += s.dropped
        }
        return (delivered, dropped)
    }

    private func count(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }

    static func query(_ path: String) -> [String: String] {
        guard let q = path.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        return MessageInput.formFields(String(q))
    }

    /// Rethrows what the client got wrong on the wire (invalid UTF-8, a message over
    /// maxMessageSize), so that the connection closes with the code RFC 6455 gives it.
    private func session(query: [String: String], viewer: Viewer, identity: Identity?, client: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                         connection: any Channel, sink: any MessageSink) async throws {
        let id = nextSession.add(1, ordering: .relaxed).newValue
        let room = query["room"].flatMap { $0.isEmpty ? nil : $0 }
        let loop = connection.eventLoop
        guard let r = running.withLock({ $0 }) else {
            try? await outbound.write(.text(Self.frame(["type": "error", "error": "the WebSocket endpoint is not running"])))
            return
        }
        let s = WSSubscriber(id: id, channel: connection, room: room, viewer: viewer, policy: config.policy, pendingLimit: config.capacity)
        let ended = Latch<Void>()
        let installed = try? await loop.submit { () -> Bool in
            guard s.install() else { return false }  // the client is gone already
            s.whenEnded { ended.resolve(.success(())) }
            return true
        }.get()
        guard installed == true else { return }
        r.subscribers.add(s)
        // The endpoint may have halted since `running` was read: its end would miss this
        // session, so it ends now (the client reconnects).
        if r.closed.load(ordering: .sequentiallyConsistent) {
            r.subscribers.remove(s)
            return
        }
        let name = identity?.name ?? query["name"].flatMap { $0.isEmpty ? nil : String($0.prefix(MessageInput.maxNameLength)) }
        sessions.withLock { $0[id] = Session(name: name, room: room, subscriber: s, since: Date()) }
        count("connected")
        // Counted in the room while connected (a name given later in a hello frame is not).
        let leave = presence.join(name, room: room ?? config.defaultRoom)
        let unlisten = presence.listen { change in
            guard room == nil || change.room == room else { return }
            Task { try? await outbound.write(.text(change.json.jsonText)) }
        }
        defer {
            unlisten()
            leave()
            loop.execute { s.end() }
            r.subscribers.remove(s)
            sessions.withLock { $0[id] = nil }
            retired.withLock { $0.delivered += s.delivered; $0.dropped += s.dropped }
        }
        let resumeFrom = query["lastEventId"].flatMap(MessageID.init)
        // Client → channel in a child task; the live side writes from the event loop and this
        // task waits for it to end; whichever ends first ends the other: the receiver by ending
        // the live side, the live side (endpoint stopped, client too slow) by cancelling the
        // receiver. The wire's error counts only when the client's side ended first.
        let receiverEnded = Latch<Void>()
        let wireError = await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                let error = await self.receive(inbound, outbound: outbound, name: name, identity: identity, client: client, room: room, viewer: viewer, sink: sink)
                receiverEnded.resolve(.success(()))
                loop.execute { s.end() }
                return error
            }
            let skip = resumeFrom == nil ? [] : await self.resume(after: resumeFrom!, room: room, viewer: viewer, to: outbound)
            // The resume's frames are on the loop's queue already (the writer hands each over
            // before it returns): the live frames held meanwhile follow them.
            loop.execute { s.goLive(skipping: skip) }
            await withTaskCancellationHandler {
                try? await ended.wait()
            } onCancel: {
                loop.execute { s.end() }
            }
            let receiverFirst = receiverEnded.isResolved
            group.cancelAll()
            let error = await group.next() ?? nil
            return receiverFirst ? error : nil
        }
        if let wireError { throw wireError }
    }

    static func frame(_ message: Message) -> String {
        guard case .object(var o) = message.json else { return "{}" }
        o["type"] = "message"
        return JSONValue.object(o).jsonText
    }

    /// Sends the stored messages after `lastID`, then `{"type": "resumed", "count", "gap"}`;
    /// returns their ids, which the live stream then skips.
    @discardableResult
    private func resume(after lastID: MessageID, room: String?, viewer: Viewer, to outbound: WebSocketOutboundWriter) async -> Set<MessageID> {
        guard let store = try? store?.get() else {
            try? await outbound.write(.text(Self.frame(["type": "error", "error": "this endpoint keeps no history to resume from"])))
            return []
        }
        do {
            let (stored, _, gap) = try await StoredResume.messages(
                after: lastID, room: room, defaultRoom: config.defaultRoom, viewer: viewer.historyViewer, limit: config.resumeLimit,
                store: store, ring: [Message](), id: { $0.id })
            for m in stored where viewer.sees(m, defaultRoom: config.defaultRoom) { try await outbound.write(.text(Self.frame(m))) }
            try await outbound.write(.text(Self.frame(["type": "resumed", "after": .string(lastID.description), "count": .int(stored.count), "gap": .bool(gap)])))
            return Set(stored.map(\.id))
        } catch {
            try? await outbound.write(.text(Self.frame(["type": "error", "error": .string("could not resume: \(error)")])))
            return []
        }
    }

    /// Client → channel: hello frames name the sender; message frames are put and acknowledged.
    /// Returns the inbound stream's error, if it ended with one.
    private func receive(_ inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, name: String?, identity: Identity?,
                         client: String, room: String?, viewer: Viewer, sink: any MessageSink) async -> (any Error)? {
        var name = name
        do {
            for try await message in inbound.messages(maxSize: config.maxMessageSize) {
                if case .text(let text) = message, let id = Self.resumeRequest(text) {
                    await resume(after: id, room: room, viewer: viewer, to: outbound)
                    continue
                }
                let reply = await handle(message, name: &name, identity: identity, client: client, sink: sink)
                try await outbound.write(.text(Self.frame(reply)))
            }
            return nil
        } catch {
            count("errors")
            return error
        }
    }

    /// The id of a `{"resume": "<id>"}` frame.
    static func resumeRequest(_ text: String) -> MessageID? {
        guard text.contains("\"resume\""), case .object(let o)? = try? JSONParser.parse(text).value, o.count == 1,
            let id = o["resume"]?.stringValue.flatMap(MessageID.init)
        else { return nil }
        return id
    }

    package func handle(_ message: WebSocketMessage, name: inout String?, identity: Identity? = nil, client: String = "in-process",
                        sink: any MessageSink) async -> JSONObject {
        guard case .text(let text) = message else { return ["type": "error", "error": "binary frames are not supported; send JSON text"] }
        guard let value = try? JSONParser.parse(text).value, case .object(let o) = value else {
            count("rejected")
            return ["type": "error", "error": "expected a JSON object like {\"text\": \"hi\"}"]
        }
        if let n = o["name"] {
            guard case .string(let s) = n, !s.trimmingSpaces().isEmpty, s.count <= MessageInput.maxNameLength else {
                return ["type": "error", "error": "\"name\" must be a non-empty string of at most \(MessageInput.maxNameLength) characters"]
            }
            if let identity, s.trimmingSpaces() != identity.name {
                count("rejected")
                return ["type": "error", "reason": "spoofedFrom", "error": .string("the token is \(identity.name)'s: the name cannot change")]
            }
            name = s.trimmingSpaces()
            if o["text"] == nil { return ["type": "hello", "name": .string(s.trimmingSpaces())] }
        }
        // The one message decoder: the sender is the session's name (its token's, with auth).
        let fields: MessageFields
        do {
            fields = try MessageFields.decode(value, rules: .init(allowsFrom: false, controlKeys: ["name"]))
        } catch {
            count("rejected")
            return ["type": "error", "error": .string(error.description)]
        }
        if case .textTooLong(let n, let limit)? = MessageInput.checkLength(fields.text, limit: config.maxTextLength) {
            count("rejected")
            return ["type": "error", "error": .string("the text is \(n) bytes; the limit is \(limit) (maxTextLength)")]
        }
        if draining.load(ordering: .relaxed) {
            return ["type": "error", "error": "the server is shutting down; not taken"]
        }
        guard let from = name else {
            return ["type": "error", "error": "say who you are first: {\"name\": \"…\"} or ?name= in the URL"]
        }
        if let identity, !identity.publish.allows(fields.room ?? config.defaultRoom) {
            count("forbidden")
            return ["type": "error", "status": 403, "reason": "forbiddenRoom", "error": .string("\(identity.name) may not publish to \(fields.room ?? config.defaultRoom)")]
        }
        // Per user (per address without auth): an error frame, and the connection stays.
        if let limiter, let wait = limiter.take(identity == nil ? client : from) {
            count("rateLimited")
            let seconds = max(1, wait.retryAfterSeconds)
            return ["type": "error", "status": 429, "reason": "rateLimited", "retryAfter": .int(seconds),
                    "error": .string("too many messages: try again in \(seconds)s")]
        }
        let m = fields.message(defaultFrom: from)
        let outcome = await ack.put(m, on: sink, timeout: config.wait)
        count(outcome.status)
        switch outcome {
        case .stored, .put(.accepted), .put(.dropped): return ["type": "ack", "id": .string(outcome.id(of: m).description), "status": .string(outcome.status)]
        case .put(.wouldBlock): return ["type": "error", "id": .string(m.id.description), "error": "the channel is full; try again later"]
        case .put(.closed): return ["type": "error", "id": .string(m.id.description), "error": "the channel is not running"]
        case .notStored(let why, let delivered):
            return ["type": "error", "id": .string(m.id.description), "error": .string("not stored: \(why)"), "delivered": .bool(delivered)]
        }
    }

    static func frame(_ o: JSONObject) -> String { JSONValue.object(o).jsonText }

    public func inspect() async -> JSONValue {
        let s = sessions.withLock { $0 }
        let c = counts.withLock { $0 }
        return [
            "path": .string(config.path), "sessions": .int(s.count), "delivered": .int(totals.delivered), "dropped": .int(totals.dropped),
            "policy": .string(config.policy.rawValue), "ack": ack.json, "rateLimit": limiter?.figures ?? .null,
            "history": store.map { .string($0.target) } ?? .null,
            "counts": .object(JSONObject(c.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
            "sessionSample": .array(s.sorted { $0.key < $1.key }.prefix(20).map { id, s in
                ["id": .int(Int(id)), "name": s.name.map(JSONValue.string) ?? .null, "room": s.room.map(JSONValue.string) ?? .null,
                 "delivered": .int(s.subscriber.delivered), "dropped": .int(s.subscriber.dropped)]
            }),
        ]
    }
}
