/// The component types a system may use, by name, and the top-level sections of
/// `system.json` that modules other than the core read.
public struct ComponentRegistry: Sendable {
    /// The registered types by name.
    public private(set) var types: [String: ComponentType] = [:]
    private(set) var sections: [String: @Sendable (ConfigReader) -> Void] = [:]

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

    /// Declares a top-level section of `system.json` (such as `"admin"`) and how to check it.
    public mutating func registerSection(_ key: String, validate: @escaping @Sendable (ConfigReader) -> Void) {
        sections[key] = validate
    }

    /// The type named `name`.
    public func type(named name: String) -> ComponentType? { types[name] }

    /// All type names, sorted.
    public var typeNames: [String] { types.keys.sorted() }
}
