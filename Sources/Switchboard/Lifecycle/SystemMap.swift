import Foundation
import Logging

/// A running system: the components of a validated `system.json`, their lifecycle states,
/// and the operations that start and stop them in dependency order.
///
/// ```swift
/// let system = try SystemLoader(registry: registry).load(file: "system.json")
/// let map = SystemMap(system)
/// try await map.start()
/// // …
/// let report = await map.stop()
/// ```
///
/// - Important: Lifecycle operations (start, stop, restart, reload) run one at a time, in
///   the order they were asked for; queries (`status`, `inspect`, `events`) answer at once,
///   even while an operation is under way.
public actor SystemMap {
    struct Node {
        var spec: ComponentSpec
        var type: ComponentType
        var instance: any Component
        var runtime: ComponentRuntime
        var state: LifecycleState = .stopped
        var since = Date()
        var runningSince: ContinuousClock.Instant?
        var startDuration: Duration?
        var lastError: String?
        /// Stopped because something it uses was stopped: a start of that brings it back.
        var cascaded = false
    }

    /// The spec the map currently runs.
    public internal(set) var spec: SystemSpec
    var nodes: [String: Node] = [:]
    let wiring: Wiring
    let logger: Logger
    var log = EventLog()
    /// What suspended instances handed on, by name, until their replacement resumes from it.
    var carried: [String: (state: any Sendable, from: any Component)] = [:]
    private var busy = false
    var reloads: [ReloadResult: Int] = [:]
    private var waiters: [CheckedContinuation<Void, Never>] = []
    let clock = ContinuousClock()

    /// The console commands the types of this system's components bring, by name.
    public var consoleTopics: [ConsoleTopic] {
        var seen: [String: ConsoleTopic] = [:]
        for node in nodes.values { if let t = node.type.console { seen[t.name] = t } }
        return seen.values.sorted { $0.name < $1.name }
    }

    /// The components whose type brings the console command `topic`, by name.
    public func components(answering topic: String) -> [(String, any Component)] {
        nodes.filter { $0.value.type.console?.name == topic }.sorted { $0.key < $1.key }.map { ($0.key, $0.value.instance) }
    }

    /// A map over the components of `system`, all stopped.
    public init(_ system: BuiltSystem, logger: Logger = Logger(label: "switchboard")) {
        self.spec = system.spec
        self.wiring = system.wiring
        self.logger = logger
        for component in system.spec.components {
            guard let instance = system.instances[component.name], let type = system.types[component.name],
                let runtime = system.runtimes[component.name]
            else { continue }
            nodes[component.name] = Node(spec: component, type: type, instance: instance, runtime: runtime)
            system.wiring.set(component.name, instance)
        }
        for (name, runtime) in system.runtimes { watchFailures(of: name, runtime) }
        system.wiring.map = self
    }

    nonisolated func watchFailures(of name: String, _ runtime: ComponentRuntime) {
        let instance = ObjectIdentifier(runtime)
        runtime.onFailure { [weak self] error in
            Task { await self?.componentFailed(name, runtime: instance, error) }
        }
    }

    /// Marks a running component failed after it reported an error; the rest keeps running.
    func componentFailed(_ name: String, runtime: ObjectIdentifier, _ error: any Error) {
        guard let node = nodes[name], ObjectIdentifier(node.runtime) == runtime, node.state == .running else { return }
        transition(name, to: .failed(ComponentFailure(.running, error)))
    }

    // MARK: Queries

    /// The component names in file order.
    public var names: [String] { spec.graph.nodes }

    /// The state of the component named `name`.
    public func state(of name: String) -> LifecycleState? { nodes[name]?.state }

    /// The instance named `name` (for consoles and tests that need its own API).
    public func instance(named name: String) -> (any Component)? { nodes[name]?.instance }

    /// One word for the whole system.
    public var systemState: SystemState {
        if busy { return .busy }
        let states = nodes.values.map(\.state)
        if states.contains(where: { if case .failed = $0 { true } else { false } }) { return .degraded }
        if states.allSatisfy({ $0 == .running }) { return .running }
        if states.allSatisfy({ $0 == .stopped }) { return .stopped }
        return .partial
    }

    /// The last `n` lifecycle events, oldest first.
    public func events(last n: Int = 1000) -> [LifecycleEvent] { log.last(n) }

    /// A row per component: name, type, state, since, uptime, start duration, last error,
    /// dependencies by slot.
    public func status() -> JSONValue {
        .array(names.compactMap { nodes[$0].map(statusJSON) })
    }

    func statusJSON(_ node: Node) -> JSONValue {
        var o = JSONObject()
        o["name"] = .string(node.spec.name)
        o["type"] = .string(node.spec.type)
        o["state"] = .string(node.state.name)
        o["since"] = .string(LifecycleEvent.timestamp(node.since))
        if let since = node.runningSince, node.state == .running {
            o["uptimeSeconds"] = .double((clock.now - since).milliseconds / 1000)
        }
        if let d = node.startDuration { o["startDurationMs"] = .double(d.milliseconds) }
        if let e = node.lastError { o["lastError"] = .string(e) }
        if node.state == .running, let why = (node.instance as? any Degradable)?.degradation { o["degraded"] = .string(why) }
        o["dependencies"] = .object(JSONObject(node.spec.using.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }
            + node.spec.usingAll.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map(JSONValue.string))) }))
        o["dependents"] = .array(spec.graph.dependents(of: node.spec.name).map(JSONValue.string))
        return .object(o)
    }

    /// Everything about one component: its status, its configuration (secrets masked) and
    /// its own live figures.
    public func inspect(_ name: String) async throws(UnknownComponent) -> JSONValue {
        guard let node = nodes[name] else { throw UnknownComponent(name: name, known: names) }
        guard case .object(var o) = statusJSON(node) else { return .null }
        o["config"] = spec.maskedConfig(of: name) ?? .null
        o["figures"] = await node.instance.inspect()
        return .object(o)
    }

    // MARK: Recording

    func transition(_ name: String, to state: LifecycleState, duration: Duration? = nil) {
        guard var node = nodes[name] else { return }
        node.state = state
        node.since = Date()
        switch state {
        case .running:
            node.runningSince = clock.now
            node.startDuration = duration
            node.cascaded = false
        case .failed(let why): node.lastError = why.description
        default: break
        }
        nodes[name] = node
        let kind: LifecycleEvent.Kind = switch state {
        case .stopped: .stopped
        case .starting: .starting
        case .running: .running
        case .stopping: .stopping
        case .failed: .failed
        }
        var message: String? = nil
        if case .failed(let why) = state { message = why.description }
        record(LifecycleEvent(time: Date(), component: name, kind: kind, duration: duration, message: message))
    }

    /// Adds a system-level note to the lifecycle log (and to the process log at `level`).
    public func note(_ message: String, level: Logger.Level = .info) {
        record(LifecycleEvent(time: Date(), component: nil, kind: .note, duration: nil, message: message), level: level)
    }

    func record(_ event: LifecycleEvent, level: Logger.Level? = nil) {
        log.append(event)
        var metadata: Logger.Metadata = [:]
        if let c = event.component { metadata["component"] = "\(c)" }
        let text = (event.component.map { "\($0) " } ?? "") + event.kind.rawValue
            + (event.duration.map { " in \($0.short)" } ?? "") + (event.message.map { ": \($0)" } ?? "")
        logger.log(level: level ?? (event.kind == .failed ? .error : .info), "\(text)", metadata: metadata)
    }

    // MARK: One operation at a time

    /// Runs `body` when no other lifecycle operation is running.
    func exclusively<T, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        defer {
            if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
        }
        return try await body()
    }
}
