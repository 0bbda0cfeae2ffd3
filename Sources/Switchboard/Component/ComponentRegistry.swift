/// The component types a system may use, by name, and the top-level sections of
/// `system.json` that modules other than the core read.
public struct ComponentRegistry: Sendable {
    /// The registered types by name.
    public private(set) var types: [String: ComponentType] = [:]
    private(set) var sections: [String: @Sendable (ConfigReader) -> Void] = [:]
    /// The registered module types by name.
    public private(set) var modules: [String: ModuleType] = [:]
    /// The registered capabilities by name (a type may also declare one not registered: it
    /// selects all the same, unchecked).
    public private(set) var capabilities: [String: Capability] = [:]

    /// An empty registry.
    public init() {}

    /// Adds `type`; a later registration under the same name replaces the earlier one.
    public mutating func register(_ type: ComponentType) {
        types[type.name] = type
    }

    /// Adds several types.
    public mutating func register(_ types: [ComponentType]) {
        types.forEach { register($0) }
    }

    /// Adds a module type (a type that expands into several components).
    public mutating func register(module: ModuleType) {
        modules[module.name] = module
    }

    /// Adds a capability: its name, and the Swift type every component that declares it must be.
    public mutating func register(capability: Capability) {
        capabilities[capability.name] = capability
    }

    /// Every capability name: the registered ones and those types declare, sorted.
    public var capabilityNames: [String] {
        Set(capabilities.keys).union(types.values.flatMap(\.capabilities)).sorted()
    }

    /// The module type named `name`.
    public func module(named name: String) -> ModuleType? { modules[name] }

    /// Declares a top-level section of `system.json` (such as `"admin"`) and how to check it.
    public mutating func registerSection(_ key: String, validate: @escaping @Sendable (ConfigReader) -> Void) {
        sections[key] = validate
    }

    /// The type named `name`.
    public func type(named name: String) -> ComponentType? { types[name] }

    /// All type names, sorted.
    public var typeNames: [String] { types.keys.sorted() }

    /// Component and module type names, sorted (what a `type` may be).
    public var allTypeNames: [String] { (Array(types.keys) + modules.keys).sorted() }
}
