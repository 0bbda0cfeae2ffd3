import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `sse` endpoint: `GET /events` streams messages as Server-Sent Events.
///
/// The endpoint takes one tap on its source, encodes each message once, keeps the recent
/// ones for `Last-Event-ID` resume, and fans them out to one tap per subscriber (with the
/// subscriber policy). Everything pending for a subscriber goes out in one write.
///
/// ```json
/// "events": { "type": "sse", "path": "/events", "using": { "server": "http", "source": "fanout" },
///             "heartbeat": "15s", "history": 1000 }
/// ```
public final class SSEEndpoint: Component {
    struct Config {
        var path: String
        var heartbeat: Duration
        var retry: Int
        var history: Int
        var event: String
        var format: String
        var policy: TapPolicy
        var capacity: Int
        var hubCapacity: Int
        var defaultRoom: String

        init(_ context: ComponentContext) {
            let c = context.config
            path = context.routePath(default: "/events")
            (heartbeat, history) = Self.updatable(c)
            retry = c.int("retry", default: 2000, in: 0...3_600_000)
            event = c.string("event", default: "message")
            format = c.oneOf("format", ["json", "text"], default: "json")
            policy = TapPolicy(rawValue: c.oneOf("policy", TapPolicy.allCases.map(\.rawValue), default: "disconnect")) ?? .disconnect
            capacity = c.int("capacity", default: 1024, in: 1...1_000_000)
            hubCapacity = c.int("hubCapacity", default: 4096, in: 1...10_000_000)
            defaultRoom = c.string("defaultRoom", default: "lobby")
            if event.contains("\n") || event.contains("\r") { c.issue(.invalidValue, "event", "an event name is one line") }
            context.claimRoute("GET", path)
        }

        static func updatable(_ c: ConfigReader) -> (Duration, Int) {
            var beat = c.duration("heartbeat", default: .seconds(15))
            if beat < .milliseconds(10) {
                c.issue(.invalidValue, "heartbeat", "a heartbeat interval is at least 10ms")
                beat = .seconds(15)
            }
            return (beat, c.int("history", default: 1000, in: 0...10_000_000))
        }
    }

    final class Running: Sendable {
        let hub: Tap<Message>
        let all = Fanout<SSEEvent>()
        let rooms = Mutex<[String: Fanout<SSEEvent>]>([:])
        let history: HistoryRing
        let tasks = Mutex<[Task<Void, Never>]>([])

        init(hub: Tap<Message>, history: Int) {
            self.hub = hub
            self.history = HistoryRing(capacity: history)
        }
    }

    struct Subscriber {
        let tap: Tap<SSEEvent>
        let room: String?
        let since: Date
    }

    private let name: String
    private let mount: EndpointMount
    private let source: Dependency<any MessageFanout>
    private let config: Config
    private let heartbeat: Mutex<Duration>
    private let running = Mutex<Running?>(nil)
    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextSubscriber = Atomic<UInt64>(0)
    private let served = Atomic<Int>(0)

    init(_ context: ComponentContext) {
        name = context.name
        mount = EndpointMount(context)
        source = context.dependency("source", as: (any MessageFanout).self, "the mult (or pub) whose messages are streamed")
        config = Config(context)
        heartbeat = Mutex(config.heartbeat)
    }

    /// The component type.
    public static let type = ComponentType(
        "sse", summary: "GET /events: messages as Server-Sent Events, with Last-Event-ID resume.",
        updatableFields: ["heartbeat", "history"]
    ) { SSEEndpoint($0) }

    // MARK: Lifecycle

    public func start() async throws {
        let hub = try source.get().tap(TapOptions(name: "sse:\(name)", policy: .block, capacity: config.hubCapacity))
        let r = Running(hub: hub, history: config.history)
        running.withLock { $0 = r }
        r.tasks.withLock { $0 = [Task { await self.pump(r) }, Task { await self.beat(r) }] }
        do {
            try mount.mount([HTTPRoute(.get, config.path) { [self] request, context in subscribe(request, context) }])
        } catch {
            await stop()
            throw error
        }
    }

    public func stop() async {
        mount.unmount()
        guard let r = running.withLock({ r in defer { r = nil }; return r }) else { return }
        r.hub.cancel()
        let tasks = r.tasks.withLock { $0 }
        tasks.forEach { $0.cancel() }
        for t in tasks { await t.value }
        // Ending every stream lets the server shut down gracefully; clients reconnect later.
        r.all.closeAll()
        r.rooms.withLock { $0.values.forEach { $0.closeAll() } }
    }

    public func update(_ config: ConfigReader) async throws {
        let (beat, history) = Config.updatable(config)
        if let issue = config.issues.first { throw ConfigErrors([issue]) }
        heartbeat.withLock { $0 = beat }
        running.withLock { $0 }?.history.resize(history)
    }

    // MARK: Moving events

    /// Encodes each message once, records it, and hands it to the subscribers.
    private func pump(_ r: Running) async {
        while true {
            let batch = await r.hub.chan.receive(upTo: 256)
            if batch.isEmpty { return }
            var byRoom: [String: [SSEEvent]] = [:]
            var all: [SSEEvent] = []
            all.reserveCapacity(batch.count)
            for message in batch {
                let room = message.room ?? config.defaultRoom
                let data = config.format == "text" ? message.text : message.json.jsonText
                let bytes = ByteBuffer(string: SSEEvent.encode(id: message.id.description, event: config.event, data: data))
                let event = SSEEvent(id: message.id, room: room, bytes: bytes)
                r.history.append(event)
                all.append(event)
                byRoom[room, default: []].append(event)
            }
            if await !r.all.deliver(all) { return }
            for (room, events) in byRoom {
                if let fanout = r.rooms.withLock({ $0[room] }), await !fanout.deliver(events) { return }
            }
        }
    }

    /// Sends a heartbeat comment to every subscriber each interval (a busy one skips it).
    private func beat(_ r: Running) async {
        while (try? await Task.sleep(for: heartbeat.withLock { $0 })) != nil {
            r.all.offerAll(.heartbeat, skipFull: true)
            for fanout in r.rooms.withLock({ Array($0.values) }) { fanout.offerAll(.heartbeat, skipFull: true) }
        }
    }

    // MARK: Subscribers

    private func subscribe(_ request: Request, _ context: EdgeContext) -> Response {
        guard let r = running.withLock({ $0 }) else {
            return .error(.serviceUnavailable, "the event stream is not running")
        }
        let room = request.query("room").flatMap { $0.isEmpty ? nil : $0 }
        let id = nextSubscriber.add(1, ordering: .relaxed).newValue
        // Tap first, then read the history: an event arriving in between is in both, and
        // the id check below skips the copy; none can fall between them.
        let tap = tapFor(room, in: r, name: "sse#\(id)")
        let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.query("lastEventId")
        let replay = lastEventID.flatMap(MessageID.init).map { r.history.replay(after: $0, room: room) }
        subscribers.withLock { $0[id] = Subscriber(tap: tap, room: room, since: Date()) }
        served.add(1, ordering: .relaxed)
        // A client that hangs up ends its stream at once, not at the next write.
        let unwatch = ClientGoneWatcher.watch(context.channel) { tap.cancel() }

        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let retry = config.retry
        let body = ResponseBody { [self] writer in
            defer {
                unwatch()
                finish(id, tap: tap, room: room, in: r)
            }
            var first = ByteBuffer(string: "retry: \(retry)\n\n")
            // The replayed events the live tap may also hold: a prefix of what it delivers.
            var overlap = Set<MessageID>()
            if let replay {
                if replay.gap {
                    let notice: JSONValue = ["lastEventId": .string(lastEventID ?? ""), "oldest": replay.oldest.map { .string($0.description) } ?? .null]
                    first.writeString(SSEEvent.encode(id: nil, event: "gap", data: notice.jsonText))
                }
                for e in replay.events { first.writeImmutableBuffer(e.bytes) }
                overlap = Set(replay.events.compactMap(\.id))
            }
            try await writer.write(first)
            while true {
                let batch = await tap.chan.receive(upTo: 512)
                if batch.isEmpty { break }
                var out = ByteBuffer()
                for e in batch {
                    if !overlap.isEmpty, let id = e.id {
                        if overlap.remove(id) != nil { continue }
                        overlap.removeAll()
                    }
                    out.writeImmutableBuffer(e.bytes)
                }
                if out.readableBytes > 0 { try await writer.write(out) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    private func tapFor(_ room: String?, in r: Running, name: String) -> Tap<SSEEvent> {
        guard let room else { return r.all.tap(name: name, policy: config.policy, capacity: config.capacity) }
        return r.rooms.withLock { rooms in
            let fanout = rooms[room] ?? Fanout<SSEEvent>()
            rooms[room] = fanout
            return fanout.tap(name: name, policy: config.policy, capacity: config.capacity)
        }
    }

    private func finish(_ id: UInt64, tap: Tap<SSEEvent>, room: String?, in r: Running) {
        tap.cancel()
        subscribers.withLock { $0[id] = nil }
        if let room {
            r.rooms.withLock { rooms in
                if rooms[room]?.isEmpty == true { rooms[room] = nil }
            }
        }
    }

    // MARK: Figures

    /// Subscribers connected now.
    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    public func inspect() async -> JSONValue {
        let subs = subscribers.withLock { $0 }
        let r = running.withLock { $0 }
        var o = JSONObject()
        o["path"] = .string(config.path)
        o["source"] = .string(source.target)
        o["subscribers"] = .int(subs.count)
        o["served"] = .int(served.load(ordering: .relaxed))
        o["heartbeat"] = .string(heartbeat.withLock { $0 }.short)
        o["policy"] = .string(config.policy.rawValue)
        if let r {
            o["history"] = ["count": .int(r.history.count), "capacity": .int(r.history.capacity)]
            o["hub"] = r.hub.json
        }
        var dropped = 0
        var disconnected = 0
        for s in subs.values {
            dropped += s.tap.counters.dropped
            if s.tap.isDisconnected { disconnected += 1 }
        }
        o["dropped"] = .int(dropped)
        let sample = subs.sorted { $0.key < $1.key }.prefix(20).map { id, s -> JSONValue in
            let c = s.tap.counters
            return ["id": .int(Int(id)), "room": s.room.map(JSONValue.string) ?? .null, "since": .string(LifecycleEvent.timestamp(s.since)),
                    "delivered": .int(c.delivered), "dropped": .int(c.dropped), "buffered": .int(c.buffered)]
        }
        o["subscriberSample"] = .array(Array(sample))
        return .object(o)
    }
}
