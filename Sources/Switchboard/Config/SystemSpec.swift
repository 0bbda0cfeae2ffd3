/// One component as `system.json` declares it.
public struct ComponentSpec: Sendable, Equatable {
    /// The component's name (its key under `"components"`).
    public let name: String
    /// The registered type name.
    public let type: String
    /// Slot name → the name of the component that fills it.
    public let using: [String: String]
    /// Slot name → the components that fill a slot taking several (a list, or a refset
    /// `{"$all": type}` resolved after expansion).
    public var usingAll: [String: [String]] = [:]
    /// The component's whole object as written, `type` and `using` included.
    public let config: JSONObject
    /// Where the object sits in the document.
    public var path: ConfigPath { ConfigPath("components", name) }

    /// The fields other than `type` and `using` whose values differ from `other`'s.
    public func changedFields(from other: ComponentSpec) -> Set<String> {
        var changed: Set<String> = []
        for key in Set(config.keys).union(other.config.keys) where key != "type" && key != "using" {
            if config[key] != other.config[key] { changed.insert(key) }
        }
        return changed
    }
}

/// A validated `system.json`: the system's settings, its components and their graph.
public struct SystemSpec: Sendable {
    /// The system's name, shown in the console prompt and logs.
    public let name: String
    /// This process's name among the instances of the system (top-level `instance`), in the
    /// logs, the console prompt and a bus's list of instances.
    public let instance: String
    /// The whole document as it runs: as written, with the profiles applied and the variables
    /// in place (their declarations kept under `vars`).
    public let document: JSONObject
    /// The components in file order.
    public let components: [ComponentSpec]
    /// The dependency graph.
    public let graph: DependencyGraph
    /// How long a graceful shutdown may take before the process gives up waiting.
    public let shutdownTimeout: Duration
    /// Paths whose values are secrets (from `$env` or read as secrets): masked when shown.
    public let secretPaths: Set<ConfigPath>
    /// The file the document came from, if any.
    public let source: String?
    /// Every numeric setting the components' readers asked for (present or not), by path:
    /// what a fuzzer or a reference generator walks.
    public var numericFields: [ConfigPath: NumericField] = [:]
    /// The declared variables and where each value came from.
    public var variables = SystemVariables(all: [])
    /// The profiles applied, in order.
    public var profiles: [String] = []
    /// The value each field the components read but the document leaves out takes: what
    /// `check --show --defaults` fills in.
    public var defaults: [ConfigPath: JSONValue] = [:]

    /// The component named `name`.
    public func component(_ name: String) -> ComponentSpec? {
        components.first { $0.name == name }
    }

    /// A top-level section such as `"admin"`, if present.
    public func section(_ key: String) -> JSONObject? {
        document[key]?.objectValue
    }

    /// The document with every secret value replaced by `"••••"`.
    public func maskedDocument() -> JSONValue {
        mask(.object(document), at: ConfigPath())
    }

    /// The document as it runs, for showing: secrets masked, without the `vars` declarations
    /// (they are in place), and with `defaults`, every field a component reads but the
    /// document leaves out, at its default.
    public func shownDocument(defaults withDefaults: Bool) -> JSONValue {
        var document = document
        document["vars"] = nil
        var value = JSONValue.object(document)
        if withDefaults {
            for (path, d) in defaults.sorted(by: { $0.key.description < $1.key.description }) {
                value = Self.inserting(d, at: path.elements[...], into: value)
            }
        }
        return mask(value, at: ConfigPath())
    }

    /// `value` with `new` at `path`, where nothing is (objects only: a path through an array
    /// or a scalar is left alone).
    private static func inserting(_ new: JSONValue, at path: ArraySlice<ConfigPath.Element>, into value: JSONValue) -> JSONValue {
        guard let first = path.first, case .key(let key) = first else { return value }
        guard case .object(var o) = value else { return value }
        if path.count == 1 {
            if o[key] == nil || o[key] == .null { o[key] = new }
        } else {
            o[key] = inserting(new, at: path.dropFirst(), into: o[key] ?? .object(JSONObject()))
        }
        return .object(o)
    }

    /// The component's configuration with every secret value replaced by `"••••"`.
    public func maskedConfig(of name: String) -> JSONValue? {
        guard let c = component(name) else { return nil }
        return mask(.object(c.config), at: c.path)
    }

    private func mask(_ value: JSONValue, at path: ConfigPath) -> JSONValue {
        if secretPaths.contains(path) {
            // An $env reference names the variable, never its value: keep it readable.
            if case .object(let o) = value, o["$env"] != nil { return value }
            return "••••"
        }
        switch value {
        case .object(let o):
            return .object(JSONObject(o.map { ($0.key, mask($0.value, at: path.appending($0.key))) }))
        case .array(let items):
            return .array(items.enumerated().map { mask($0.element, at: path.appending($0.offset)) })
        default:
            return value
        }
    }

    /// Component name → type name.
    public var types: [String: String] {
        Dictionary(uniqueKeysWithValues: components.map { ($0.name, $0.type) })
    }
}
