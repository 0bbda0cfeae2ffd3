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
/// ones for `Last-Event-ID` resume, and hands each batch to every connection's event loop,
/// where each subscriber writes what is for it in one write (see `SSESubscriber`).
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
        var historyBytes: Int
        var event: String
        var format: String
        var hubCapacity: Int
        var stream: StreamSettings

        init(_ context: ComponentContext) {
            let c = context.config
            path = context.routePath(default: "/events")
            (heartbeat, history, historyBytes) = Self.updatable(c)
            retry = c.int("retry", default: 2000, in: 0...3_600_000)
            event = c.string("event", default: "message")
            format = c.oneOf("format", ["json", "text"], default: "json")
            hubCapacity = c.int("hubCapacity", default: 4096, in: 1...10_000_000)
            stream = StreamSettings(c)
            if event.contains("\n") || event.contains("\r") { c.issue(.invalidValue, "event", "an event name is one line") }
            context.claimRoute("GET", path)
        }

        static func updatable(_ c: ConfigReader) -> (Duration, Int, Int) {
            var beat = c.duration("heartbeat", default: .seconds(15))
            if beat < .milliseconds(10) {
                c.issue(.invalidValue, "heartbeat", "a heartbeat interval is at least 10ms")
                beat = .seconds(15)
            }
            return (beat, c.int("history", default: 1000, in: 0...10_000_000),
                    c.int("historyBytes", default: 16 << 20, in: 0...(1 << 34)))
        }
    }

    /// The running part: the stream hub, and the relay that feeds it when the source can run
    /// a listener (it outlives the hub in a reload).
    struct Running: Sendable {
        let hub: StreamHub<SSEEvent>
        let relay: SSERelay?
        let history: HistoryRing
    }

    /// What a suspended endpoint hands its replacement: the history (so resuming clients
    /// get no gap) and the listener that kept the messages sent meanwhile.
    struct Suspended: Sendable {
        let history: HistoryRing
        let relay: SSERelay?
    }

    private let name: String
    private let mount: EndpointMount
    let auth: EdgeAuth
    let presence: PresenceLink
    let source: Dependency<any MessageFanout>
    /// The store a client resumes from when its id is older than the in-memory history.
    let store: Dependency<any MessageStore>?
    let config: Config
    /// What changes while the endpoint lives: its heartbeat (updatable), the history (outlives a
    /// stop, handed on to a replacement in a reload), and the running part.
    struct State {
        var heartbeat: Duration
        var history: HistoryRing
        var running: Running?
    }

    let state: Mutex<State>
    let nextSubscriber = Atomic<UInt64>(0)
    let served = Atomic<Int>(0)
    let totals = StreamTotals()

    init(_ context: ComponentContext) {
        name = context.name
        mount = EndpointMount(context)
        auth = EdgeAuth(context)
        presence = PresenceLink(context)
        source = context.dependency("source", as: (any MessageFanout).self, "the mult (or pub) whose messages are streamed")
        store = context.optionalDependency("history", as: (any MessageStore).self, "the store a client resumes from after a restart")
        config = Config(context)
        state = Mutex(State(heartbeat: config.heartbeat, history: HistoryRing(capacity: config.history, maxBytes: config.historyBytes)))
    }

    /// The component type.
    public static let type = ComponentType(
        "sse", summary: "GET /events: messages as Server-Sent Events, with Last-Event-ID resume.",
        updatableFields: ["heartbeat", "history", "historyBytes"]
    ) { SSEEndpoint($0) }

    // MARK: Lifecycle

    public func start() async throws {
        try await start(taking: nil)
    }

    public func resume(from state: any Sendable) async throws {
        try await start(taking: state as? Suspended)
    }

    /// Starts listening (taking over a suspended predecessor's history and listener), then
    /// mounts the route.
    private func start(taking carried: Suspended?) async throws {
        let fanout = try source.get()
        let ring = carried?.history ?? state.withLock { $0.history }
        if carried != nil { ring.resize(config.history, maxBytes: config.historyBytes) }
        state.withLock { $0.history = ring }
        let hub = StreamHub<SSEEvent>(totals: totals, encode: { [config] in Self.encode($0, config) }, record: { events in
            for e in events { ring.append(e) }
        })
        let r: Running
        if let listening = fanout as? any MessageListening {
            // Through the relay, which keeps what comes while the endpoint is suspended.
            var relay = carried?.relay
            if relay?.source !== listening {
                // The source was replaced too: what the old listener kept goes first.
                let earlier = relay?.takeKept() ?? []
                relay?.detach()
                let fresh = SSERelay(source: listening, limit: config.hubCapacity)
                let unlisten = try listening.listen({ batch in await fresh.deliver(batch) }, end: {})
                fresh.unlisten.withLock { $0 = unlisten }
                relay = fresh
                if !earlier.isEmpty { await hub.dispatch(earlier) }
            }
            r = Running(hub: hub, relay: relay, history: ring)
            await relay?.attach { batch in await hub.dispatch(batch) }
        } else {
            carried?.relay?.detach()
            try hub.pump(from: fanout, tapName: "sse:\(name)", capacity: config.hubCapacity)
            r = Running(hub: hub, relay: nil, history: ring)
        }
        state.withLock { $0.running = r }
        hub.keepAlive(every: { [weak self] in self?.state.withLock { $0.heartbeat } ?? .seconds(15) })
        // Joins and leaves go to the subscribers of the room, as `event: presence`.
        hub.onHalt(presence.listen { change in
            let event = SSEEvent(id: nil, room: change.room, text: SSEEvent.encode(id: nil, event: "presence", data: change.json.jsonText))
            Task { await hub.notify([event]) }
        })
        do {
            try mount.mount([HTTPRoute(.get, config.path, stream: SSEConnectionStreaming(endpoint: self)) { [self] request, context in
                await subscribe(request, context)
            }])
            auth.announce()
        } catch {
            await stop()
            throw error
        }
    }

    public func stop() async {
        mount.unmount()
        guard let r = await halt() else { return }
        r.relay?.detach()
    }

    /// Like `stop`, but the route answers 503 meanwhile and the listener keeps what the
    /// source sends until the replacement takes it over with the history.
    public func suspend() async throws -> (any Sendable)? {
        mount.suspend()
        let r = await halt()
        return Suspended(history: state.withLock { $0.history }, relay: r?.relay)
    }

    public func release(_ state: any Sendable) async {
        mount.release()
        (state as? Suspended)?.relay?.detach()
    }

    /// Ends the streams and the tasks; the relay, if any, switches to keeping.
    private func halt() async -> Running? {
        guard let r = state.withLock({ s in defer { s.running = nil }; return s.running }) else { return nil }
        r.relay?.keep()
        await r.hub.halt(pace: config.stream.drain)
        // A batch the relay was forwarding when it switched to keeping is in the history
        // before the history is handed on: the replacement's first events come after it.
        await r.relay?.settled()
        return r
    }

    public func update(_ config: ConfigReader) async throws {
        let (beat, history, historyBytes) = Config.updatable(config)
        try config.throwIssues()
        let ring = state.withLock { s in
            s.heartbeat = beat
            return s.history
        }
        ring.resize(history, maxBytes: historyBytes)
    }

    // MARK: Moving events

    /// The event of `message`, as every subscriber gets it.
    func encode(_ message: Message) -> SSEEvent { Self.encode(message, config) }

    static func encode(_ message: Message, _ config: Config) -> SSEEvent {
        let data = config.format == "text" ? message.text : message.jsonText()
        return SSEEvent(id: message.id, room: message.room ?? config.stream.defaultRoom, text: SSEEvent.encode(id: message.id.description, event: config.event, data: data),
                        parties: Parties(message))
    }

    /// The replay for a client whose id the ring no longer covers, from the store, read a
    /// page at a time (nil when the store cannot answer: the ring's replay, with its gap,
    /// stands).
    func storedPages(after lastID: MessageID, room: String?, viewer: Viewer) async -> StoredPages? {
        guard let store = try? store?.get() else { return nil }
        return try? await StoredResume.pages(after: lastID, room: room, defaultRoom: config.stream.defaultRoom, viewer: viewer.historyViewer,
                                             limit: config.stream.resumeLimit, pageBytes: min(config.stream.bufferBytes, 65_536), store: store)
    }
}
