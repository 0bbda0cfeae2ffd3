import Logging

/// A kind of component, registered by name and referred to as `"type"` in `system.json`.
///
/// A built-in type and a user-written one register exactly the same way:
///
/// ```swift
/// let ticker = ComponentType("ticker", summary: "Counts seconds.") { context in
///     Ticker(interval: context.config.duration("interval", default: .seconds(1)))
/// }
/// var registry = ComponentRegistry()
/// registry.register(ticker)
/// ```
public struct ComponentType: Sendable {
    /// The name used as `"type"` in `system.json`.
    public let name: String
    /// One line saying what the type is for (shown by `check` and the console).
    public let summary: String
    /// Top-level config fields a running instance can take through `update(_:)` without a
    /// restart; a reload that changes only these updates in place.
    public let updatableFields: Set<String>
    /// The console command its components answer, if any (see `ConsoleCommands`).
    public let console: ConsoleTopic?
    /// What its components can do, by name (`"message-store"`, `"degradable"`): a refset
    /// `{"$all": "message-store"}` takes every component whose type declares it. When the
    /// registry knows the capability's protocol (`Capability`), `check` holds each built
    /// component to it.
    public let capabilities: Set<String>
    let build: @Sendable (ComponentContext) throws -> any Component

    /// A type named `name` whose instances `build` makes from a context.
    ///
    /// `build` reads the configuration from `context.config`, declares its dependencies with
    /// `context.dependency(_:as:)`, and returns the (not yet started) component. It may throw
    /// for a problem that is not about one field; field problems go to the reader.
    public init(
        _ name: String,
        summary: String = "",
        updatableFields: Set<String> = [],
        console: ConsoleTopic? = nil,
        capabilities: Set<String> = [],
        build: @escaping @Sendable (ComponentContext) throws -> any Component
    ) {
        self.name = name
        self.summary = summary
        self.updatableFields = updatableFields
        self.console = console
        self.capabilities = capabilities
        self.build = build
    }
}

/// A named capability that component types declare (`ComponentType(capabilities:)`) and a
/// refset selects by (`{"$all": "degradable"}`), with the Swift type its components must be.
///
/// ```swift
/// registry.register(capability: Capability("degradable", summary: "may run without what it needs", is: (any Degradable).self))
/// ```
public struct Capability: Sendable {
    /// The name a type declares and a refset names.
    public let name: String
    /// One line saying what the components that have it can do.
    public let summary: String
    /// The Swift type behind the name ("Degradable").
    public let kindName: String
    let accepts: @Sendable (any Component) -> Bool

    /// A capability whose components are each a `T` (usually a protocol existential).
    public init<T>(_ name: String, summary: String, is type: T.Type) {
        self.name = name
        self.summary = summary
        kindName = ComponentContext.kindName(T.self)
        accepts = { $0 is T }
    }
}

/// What a `ComponentType` gets to build one instance: its name, its configuration, its
/// dependencies by slot, and the runtime handle it may keep.
public final class ComponentContext {
    /// The component's name in the system map.
    public let name: String
    /// The component's configuration object (`type` and `using` already known).
    public let config: ConfigReader
    /// The handle a running component keeps: its logger, and how it reports a failure.
    public let runtime: ComponentRuntime
    let wiring: Wiring
    /// Slot name → component name, as written under `"using"` (for types whose slots
    /// depend on their configuration).
    public let using: [String: String]
    /// Slot name → the components written for a slot that takes several.
    public let usingAll: [String: [String]]
    private(set) var slots: [DeclaredSlot] = []
    private(set) var claims: [Claim] = []

    init(name: String, config: ConfigReader, runtime: ComponentRuntime, wiring: Wiring, using: [String: String], usingAll: [String: [String]] = [:]) {
        self.name = name
        self.config = config
        self.runtime = runtime
        self.wiring = wiring
        self.using = using
        self.usingAll = usingAll
    }

    /// The logger for this component (metadata `component=<name>`).
    public var logger: Logger { runtime.logger }

    /// The running system as a whole, for components that report on it (health, metrics).
    public var system: SystemHandle { SystemHandle(wiring: wiring) }

    /// Declares the required slot `slot`, filled by the component named in `using`, which must
    /// be a `T` (usually a protocol existential such as `(any MessageSink).self`).
    public func dependency<T>(_ slot: String, as type: T.Type, _ description: String = "") -> Dependency<T> {
        slots.append(DeclaredSlot(name: slot, kindName: Self.kindName(T.self), required: true, description: description) { $0 is T })
        return Dependency(slot: slot, target: using[slot] ?? "", wiring: wiring)
    }

    /// Declares an optional slot; `nil` when `using` does not fill it.
    public func optionalDependency<T>(_ slot: String, as type: T.Type, _ description: String = "") -> Dependency<T>? {
        slots.append(DeclaredSlot(name: slot, kindName: Self.kindName(T.self), required: false, description: description) { $0 is T })
        guard let target = using[slot] else { return nil }
        return Dependency(slot: slot, target: target, wiring: wiring)
    }

    /// Declares a slot that takes several components, each a `T`: a list of names, or a refset
    /// (`{"$all": "store"}`: every component of that type or capability); nil when `using` leaves it out, so
    /// that "not given" and "given, none matched" differ.
    public func dependencies<T>(_ slot: String, as type: T.Type, _ description: String = "") -> [Dependency<T>]? {
        slots.append(DeclaredSlot(name: slot, kindName: Self.kindName(T.self), required: false, description: description, many: true) { $0 is T })
        guard let targets = usingAll[slot] ?? using[slot].map({ [$0] }) else { return nil }
        return targets.map { Dependency(slot: slot, target: $0, wiring: wiring) }
    }

    /// Claims a unique resource, such as a route on a server: two components claiming the
    /// same `key` is a configuration error naming both.
    public func claim(_ key: String, described description: String) {
        claims.append(Claim(key: key, description: description))
    }

    static func kindName(_ type: Any.Type) -> String {
        let s = String(describing: type)
        return s.hasPrefix("any ") ? String(s.dropFirst(4)) : s
    }

    struct DeclaredSlot {
        let name: String
        let kindName: String
        let required: Bool
        let description: String
        var many = false
        let accepts: (any Component) -> Bool

        init(name: String, kindName: String, required: Bool, description: String, many: Bool = false, accepts: @escaping (any Component) -> Bool) {
            self.name = name
            self.kindName = kindName
            self.required = required
            self.description = description
            self.many = many
            self.accepts = accepts
        }
    }

    struct Claim {
        let key: String
        let description: String
    }
}

/// A component's view of the system it belongs to: every component's state and figures, as
/// the console sees them. Keep it, not the map: it holds the map weakly.
public struct SystemHandle: Sendable {
    let wiring: Wiring

    /// The map, while it exists.
    public var map: SystemMap? { wiring.map }

    /// Every component of the system now, by name (without waiting for the map).
    public var components: [String: any Component] { wiring.all }
}
