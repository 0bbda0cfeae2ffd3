import Switchboard
import Synchronization

/// The `pub` component: routes a channel's messages by topic (room or recipient) to the
/// subscribers of that topic.
///
/// ```json
/// "rooms": { "type": "pub", "using": { "source": "inbox" }, "topic": "room",
///            "defaultTopic": "lobby", "buffers": { "lobby": 512 } }
/// ```
public final class PubComponent: MessageListening, MessageTailable {
    struct Config {
        var topic: String
        var defaultTopic: String?
        var buffers: [String: Int]
        var defaultBuffer: Int
        var policy: TapPolicy

        init(_ c: ConfigReader) {
            topic = c.oneOf("topic", ["room", "to", "from"], default: "room")
            defaultTopic = c.string("defaultTopic")
            defaultBuffer = c.int("defaultBuffer", default: 64, in: 1...10_000_000)
            buffers = [:]
            if let b = c.object("buffers") {
                for key in b.object.keys { if let n = b.int(key, in: 1...10_000_000) { buffers[key] = n } }
            }
            policy = c.tapPolicy(default: .dropOldest)
        }
    }

    private struct Running {
        let pub: Pub<Message>
        /// Set by `activate()`: nothing moves before the subscribers are attached.
        var pump: Task<Void, Never>?
    }

    private let name: String
    private let source: Dependency<any MessageChannel>
    private let config: Config
    private let running = Mutex<Running?>(nil)
    private let tails = Fanout<Message>()

    init(_ context: ComponentContext) {
        name = context.name
        source = context.dependency("source", as: (any MessageChannel).self, "the channel whose messages are routed")
        config = Config(context.config)
    }

    /// The component type.
    public static let type = ComponentType(
        "pub", summary: "Routes a channel's messages to subscribers by topic (core.async pub)."
    ) { PubComponent($0) }

    public func start() async throws {
        let chan = try source.get().currentChan()
        let config = self.config
        let tails = self.tails
        let field = config.topic
        let pub = Pub(chan, bufferFor: { config.buffers[$0] ?? config.defaultBuffer }) { m in
            tails.offerAll(m)
            let t: String? = switch field {
            case "to": m.to
            case "from": m.from
            default: m.room
            }
            return t ?? config.defaultTopic
        }
        running.withLock { r in
            guard r == nil else { return }
            r = Running(pub: pub, pump: nil)
        }
    }

    /// Starts routing once the subscribers of the components started with it exist.
    public func activate() async {
        running.withLock { r in
            guard let pub = r?.pub, r?.pump == nil else { return }
            r?.pump = Task(executorPreference: TaskPlacement.executor) { await pub.run() }
        }
    }

    public func stop() async throws {
        guard let r = running.take() else { return }
        r.pump?.cancel()
        await r.pump?.value
        for tail in tails.snapshot { tail.cancel() }
    }

    public func tap(_ options: TapOptions) throws -> Tap<Message> {
        guard let r = running.withLock({ $0 }) else { throw NotRunning(name) }
        if options.topic == "*" {
            return r.pub.subscribeAll(name: options.name, policy: options.policy ?? config.policy, capacity: options.capacity ?? 256)
        }
        let topic = options.topic ?? config.defaultTopic ?? Message.defaultRoom
        return r.pub.subscribe(topic, name: options.name, policy: options.policy ?? config.policy, capacity: options.capacity)
    }

    public func listen(_ deliver: @escaping @Sendable ([Message]) async -> Void, end: @escaping @Sendable () -> Void) throws -> @Sendable () -> Void {
        guard let r = running.withLock({ $0 }) else { throw NotRunning(name) }
        return r.pub.listen(deliver, end: end)
    }

    public func tail(capacity: Int) throws -> Tap<Message> {
        guard running.withLock({ $0 != nil }) else { throw NotRunning(name) }
        return tails.tap(name: "tail", policy: .dropOldest, capacity: capacity)
    }

    public func inspect() async -> JSONValue {
        var o = JSONObject()
        o["source"] = .string(source.target)
        o["topic"] = .string(config.topic)
        if let r = running.withLock({ $0 }) {
            o["unrouted"] = .int(r.pub.unrouted)
            o["listeners"] = .int(r.pub.listenerCount)
            let totals = r.pub.tapTotals
            o["delivered"] = .int(totals.delivered)
            o["dropped"] = .int(totals.dropped)
            o["buffered"] = .int(totals.buffered)
            o["topics"] = .object(JSONObject(r.pub.subscriptions.sorted { $0.key < $1.key }.map {
                ($0.key, .array($0.value.map(\.json)))
            }))
        }
        return .object(o)
    }
}

/// The component types of this module: `channel`, `mult`, `pub`.
public enum ChannelComponents {
    /// All types, the channel's transforms taken from `catalog`.
    public static func types(catalog: TransformCatalog = .standard) -> [ComponentType] {
        [ChannelComponent.type(catalog: catalog), MultComponent.type, PubComponent.type]
    }
}
