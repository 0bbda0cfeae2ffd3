import Switchboard
import Synchronization

/// The `mult` component: fans the messages of a channel out to taps (SSE, WebSocket,
/// webhooks, console tails).
///
/// ```json
/// "fanout": { "type": "mult", "using": { "source": "inbox" },
///             "tapDefaults": { "policy": "dropOldest", "capacity": 256 } }
/// ```
public final class MultComponent: MessageListening, MessageTailable {
    struct Defaults: Equatable {
        var policy: TapPolicy
        var capacity: Int

        init(_ c: ConfigReader) {
            let d = c.object("tapDefaults")
            policy = d?.tapPolicy(default: .dropOldest) ?? .dropOldest
            capacity = d?.int("capacity", default: 256, in: 1...10_000_000) ?? 256
        }
    }

    private struct Running {
        let mult: Mult<Message>
        /// Set by `activate()`: the mult moves nothing before its consumers are attached.
        var pump: Task<Void, Never>?
    }

    private let name: String
    private let source: Dependency<any MessageChannel>
    private let keepTapsOpen: Bool
    private let state: Mutex<(defaults: Defaults, running: Running?)>

    init(_ context: ComponentContext) {
        name = context.name
        source = context.dependency("source", as: (any MessageChannel).self, "the channel whose messages are fanned out")
        keepTapsOpen = context.config.bool("keepTapsOpen", default: false)
        state = Mutex((Defaults(context.config), nil))
    }

    /// The component type.
    public static let type = ComponentType(
        "mult", summary: "Fans a channel's messages out to every tap (core.async mult).",
        updatableFields: ["tapDefaults"]
    ) { MultComponent($0) }

    public func start() async throws {
        let chan = try source.get().currentChan()
        state.withLock { s in
            guard s.running == nil else { return }
            s.running = Running(mult: Mult(chan, keepTapsOpen: keepTapsOpen), pump: nil)
        }
    }

    /// Starts pumping once the taps and listeners of the components started with it exist.
    public func activate() async {
        state.withLock { s in
            guard let mult = s.running?.mult, s.running?.pump == nil else { return }
            s.running?.pump = Task(executorPreference: TaskPlacement.executor) { await mult.run() }
        }
    }

    public func stop() async throws {
        guard let running = state.withLock({ s in defer { s.running = nil }; return s.running }) else { return }
        running.pump?.cancel()
        await running.pump?.value
        running.mult.closeTaps()
    }

    /// Waits until its source is empty and the batch in hand has reached every consumer, or
    /// `deadline`.
    public func drain(until deadline: ContinuousClock.Instant) async {
        guard let mult = state.withLock({ $0.running?.mult }) else { return }
        // Twice, a moment apart: a batch just taken may not be marked as in hand yet.
        let idle: @Sendable () -> Bool = { mult.source.stats.count == 0 && !mult.isDelivering }
        await waitUntil(deadline, idle)
        try? await Task.sleep(for: .milliseconds(2))
        await waitUntil(deadline, idle)
    }

    public func update(_ config: ConfigReader) async throws {
        let defaults = Defaults(config)
        config.markKnown("keepTapsOpen")
        config.finish()
        try config.throwIssues()
        state.withLock { $0.defaults = defaults }
    }

    public func tap(_ options: TapOptions) throws -> Tap<Message> {
        let (defaults, running) = state.withLock { ($0.defaults, $0.running) }
        guard let running else { throw NotRunning(name) }
        return running.mult.tap(name: options.name, policy: options.policy ?? defaults.policy, capacity: options.capacity ?? defaults.capacity)
    }

    public func listen(_ deliver: @escaping @Sendable ([Message]) async -> Void, end: @escaping @Sendable () -> Void) throws -> @Sendable () -> Void {
        guard let running = state.withLock({ $0.running }) else { throw NotRunning(name) }
        return running.mult.listen(deliver, end: end)
    }

    public func tail(capacity: Int) throws -> Tap<Message> {
        try tap(TapOptions(name: "tail", policy: .dropOldest, capacity: capacity))
    }

    public func inspect() async -> JSONValue {
        let (defaults, running) = state.withLock { ($0.defaults, $0.running) }
        var o = JSONObject()
        o["source"] = .string(source.target)
        o["tapDefaults"] = ["policy": .string(defaults.policy.rawValue), "capacity": .int(defaults.capacity)]
        let taps = running?.mult.currentTaps ?? []
        o["tapCount"] = .int(taps.count)
        o["listeners"] = .int(running?.mult.listeners.count ?? 0)
        o["taps"] = .array(taps.map(\.json))
        if let running, case let totals = running.mult.tapTotals {
            // Across every tap there has been, so they only grow (what `/metrics` counts); the
            // listeners' deliveries (SSE, WebSocket) count too, so the mult's figure is every
            // delivery it made.
            o["delivered"] = .int(totals.delivered &+ running.mult.listeners.delivered)
            o["tapDelivered"] = .int(totals.delivered)
            o["dropped"] = .int(totals.dropped)
            o["buffered"] = .int(totals.buffered)
        }
        return .object(o)
    }
}

extension Tap {
    /// The tap's name, policy and counters, as the console shows them.
    public var json: JSONValue {
        let c = counters
        return [
            "id": .int(Int(id)), "name": .string(name), "policy": .string(policy.rawValue),
            "delivered": .int(c.delivered), "dropped": .int(c.dropped), "buffered": .int(c.buffered), "capacity": .int(c.capacity),
        ]
    }
}
