import Logging
import Switchboard
import Synchronization

/// The `channel` component: a `Chan<Message>` with a buffer and chat transforms.
///
/// ```json
/// "inbox": { "type": "channel", "buffer": { "size": 1024, "policy": "fixed" },
///            "transforms": [ { "censor": { "words": ["darn"] } }, "emoticons" ] }
/// ```
public final class ChannelComponent: MessageChannel, MessageTailable {
    struct Config {
        var buffer: ChanBuffer
        var transforms: [Transform<Message, Message>]
        var transformNames: [String]

        init(_ c: ConfigReader, catalog: TransformCatalog) {
            buffer = Self.readBuffer(c)
            (transforms, transformNames) = catalog.read(c)
            if buffer == .unbuffered, !transforms.isEmpty {
                c.issue(.invalidValue, "buffer", "transforms need a buffer: give \"buffer\" a size of at least 1 (or remove \"transforms\")")
            }
        }

        static func readBuffer(_ c: ConfigReader) -> ChanBuffer {
            guard let v = c.value("buffer") else { return .fixed(1024) }
            if let n = v.intValue {
                guard n >= 0 else { c.issue(.invalidValue, "buffer", "a buffer size cannot be negative"); return .fixed(1024) }
                return n == 0 ? .unbuffered : .fixed(n)
            }
            guard let b = c.object("buffer") else { return .fixed(1024) }
            let size = b.int("size", default: 1024, in: 0...100_000_000)
            let policy = b.oneOf("policy", ["fixed", "dropping", "sliding", "unbuffered"], default: size == 0 ? "unbuffered" : "fixed")
            switch policy {
            case "dropping": return .dropping(max(1, size))
            case "sliding": return .sliding(max(1, size))
            case "unbuffered": return .unbuffered
            default: return size == 0 ? .unbuffered : .fixed(size)
            }
        }
    }

    private struct State {
        var config: Config
        var chan: Chan<Message>?
        var discardedOnStop = 0
    }

    /// What a suspended channel hands its replacement: the messages still in its buffer,
    /// already transformed, in order.
    struct Suspended: Sendable {
        let messages: [Message]
    }

    private let name: String
    private let logger: Logger
    private let state: Mutex<State>
    private let catalog: TransformCatalog
    private let tails = Fanout<Message>()

    init(_ context: ComponentContext, catalog: TransformCatalog) {
        name = context.name
        logger = context.logger
        self.catalog = catalog
        state = Mutex(State(config: Config(context.config, catalog: catalog)))
    }

    /// The component type, with transforms from `catalog`.
    public static func type(catalog: TransformCatalog = .standard) -> ComponentType {
        ComponentType(
            "channel", summary: "A buffered message channel with transforms (core.async chan).",
            updatableFields: ["transforms"]
        ) { ChannelComponent($0, catalog: catalog) }
    }

    private func pipeline(_ config: Config) -> Transform<Message, Message> {
        let tails = self.tails
        return Transform.chain(config.transforms + [.peek { tails.offerAll($0) }])
    }

    public func start() async throws {
        state.withLock { s in
            guard s.chan == nil else { return }
            s.chan = Chan(s.config.buffer, transform: pipeline(s.config))
        }
    }

    /// Starts with the messages a suspended predecessor still held, ahead of anything new
    /// (they were transformed on the way in and are not transformed again).
    public func resume(from state: any Sendable) async throws {
        let carried = (state as? Suspended)?.messages ?? []
        let lost = self.state.withLock { s -> Int in
            guard s.chan == nil else { return 0 }
            let chan = Chan<Message>(s.config.buffer)
            let taken = chan.offer(contentsOf: carried)
            chan.replaceTransform(pipeline(s.config))
            s.chan = chan
            s.discardedOnStop += carried.count - taken
            return carried.count - taken
        }
        if lost > 0 { logger.warning("\(name): the new buffer took \(carried.count - lost) of the \(carried.count) messages handed on; \(lost) did not fit") }
    }

    public func stop() async throws {
        // Nobody takes from a stopped channel: count what was left rather than lose it silently.
        let left = closeAndDrain().count
        state.withLock { $0.discardedOnStop += left }
    }

    /// Closes the channel (senders waiting for room get `closed`) and hands what its buffer
    /// holds to the replacement.
    public func suspend() async throws -> (any Sendable)? {
        Suspended(messages: closeAndDrain())
    }

    /// Waits until what the buffer holds has been taken (by the mult), or `deadline`.
    public func drain(until deadline: ContinuousClock.Instant) async {
        await waitUntil(deadline) { [self] in (state.withLock { $0.chan?.stats.count } ?? 0) == 0 }
    }

    private func closeAndDrain() -> [Message] {
        guard let chan = state.withLock({ s in defer { s.chan = nil }; return s.chan }) else { return [] }
        chan.close()
        for tail in tails.snapshot { tail.cancel() }
        var left: [Message] = []
        while let m = chan.poll() { left.append(m) }
        return left
    }

    public func update(_ config: ConfigReader) async throws {
        let new = Config(config, catalog: catalog)
        config.finish()
        try config.throwIssues()
        let chan = state.withLock { s in
            s.config.transforms = new.transforms
            s.config.transformNames = new.transformNames
            return s.chan
        }
        chan?.replaceTransform(pipeline(new))
    }

    public func currentChan() throws -> Chan<Message> {
        guard let chan = state.withLock({ $0.chan }) else { throw NotRunning(name) }
        return chan
    }

    public func put(_ message: Message, timeout: Duration) async -> PutOutcome {
        guard let chan = state.withLock({ $0.chan }) else { return .closed }
        switch await chan.send(message, timeout: timeout) {
        case .accepted?: return .accepted
        case .dropped?: return .dropped
        case .closed?, .cancelled?: return .closed
        case nil: return .wouldBlock
        }
    }

    public func offer(_ message: Message) -> PutOutcome? {
        guard let chan = state.withLock({ $0.chan }) else { return .closed }
        switch chan.offer(message) {
        case .accepted: return .accepted
        case .dropped: return .dropped
        case .closed: return .closed
        case .wouldBlock: return nil
        }
    }

    public func tail(capacity: Int) throws -> Tap<Message> {
        guard state.withLock({ $0.chan != nil }) else { throw NotRunning(name) }
        return tails.tap(name: "tail", policy: .dropOldest, capacity: capacity)
    }

    public func inspect() async -> JSONValue {
        let (config, chan, discarded) = state.withLock { ($0.config, $0.chan, $0.discardedOnStop) }
        var o = JSONObject()
        o["buffer"] = .string(config.buffer.policyName)
        o["capacity"] = .int(config.buffer.capacity)
        o["transforms"] = .array(config.transformNames.map(JSONValue.string))
        if let s = chan?.stats {
            o["count"] = .int(s.count)
            o["puts"] = .int(s.puts)
            o["takes"] = .int(s.takes)
            o["dropped"] = .int(s.dropped)
            o["pendingSenders"] = .int(s.pendingSenders)
            o["pendingReceivers"] = .int(s.pendingReceivers)
            o["closed"] = .bool(s.isClosed)
        }
        o["discardedOnStop"] = .int(discarded)
        o["tails"] = .int(tails.snapshot.count)
        return .object(o)
    }
}
