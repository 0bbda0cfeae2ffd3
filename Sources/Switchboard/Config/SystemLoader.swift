import Foundation
import Logging

/// A validated system ready to run: its spec and one built, not yet started, instance per
/// component.
public struct BuiltSystem: Sendable {
    /// What the file declared.
    public let spec: SystemSpec
    /// The built instances by name.
    public let instances: [String: any Component]
    /// The runtime handle of each instance by name.
    let runtimes: [String: ComponentRuntime]
    /// The registered type of each component by name.
    let types: [String: ComponentType]
    /// The name table the instances' dependency references read.
    let wiring: Wiring
}

/// Reads and validates `system.json` before anything starts, reporting every problem at once.
///
/// Validation builds every component (building does no I/O), which checks each component's
/// fields, its slots and the kind of what fills them.
public struct SystemLoader: Sendable {
    /// The types components may use.
    public let registry: ComponentRegistry
    /// Where `$env` references are looked up.
    public var environment: [String: String]
    /// The root logger components derive theirs from.
    public var logger: Logger

    /// A loader for `registry`, reading `$env` from `environment`.
    public init(
        registry: ComponentRegistry,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "switchboard")
    ) {
        self.registry = registry
        self.environment = environment
        self.logger = logger
    }

    /// Loads the file at `path`.
    public func load(file path: String, wiring: Wiring = Wiring()) throws(ConfigErrors) -> BuiltSystem {
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw ConfigErrors([ConfigIssue(.unreadable, at: ConfigPath(), "\(path) \(why)")])
        }
        return try load(bytes: Array(data), source: path, wiring: wiring)
    }

    /// Loads a document given as text.
    public func load(text: String, source: String? = nil, wiring: Wiring = Wiring()) throws(ConfigErrors) -> BuiltSystem {
        try load(bytes: Array(text.utf8), source: source, wiring: wiring)
    }

    /// Loads a document given as UTF-8 bytes.
    ///
    /// `wiring` is the name table the built instances will resolve their dependencies in; a
    /// reload passes the running map's so that kept and new components see each other.
    public func load(bytes: [UInt8], source: String?, wiring: Wiring = Wiring()) throws(ConfigErrors) -> BuiltSystem {
        let parsed: JSONParser.Result
        do {
            parsed = try JSONParser.parse(bytes)
        } catch {
            throw ConfigErrors([ConfigIssue(.syntax, at: ConfigPath(), error.description)])
        }
        let context = ConfigContext(environment: environment)
        for dup in parsed.duplicateKeys {
            let isComponent = dup.elements.count == 2 && dup.elements.first == .key("components")
            let what = isComponent ? "component name \"\(dup.lastKey ?? "")\" is used twice" : "key \"\(dup.lastKey ?? "")\" appears twice"
            context.issues.add(.duplicateName, at: dup, what)
        }
        guard case .object(let document) = parsed.value else {
            throw ConfigErrors([ConfigIssue(.wrongType, at: ConfigPath(), "the document must be a JSON object, found \(parsed.value.kindName)")])
        }
        let root = ConfigReader(document, at: ConfigPath(), context: context)
        let name = root.string("name", default: "switchboard")
        context.systemName = name
        let instance = root.string("instance", default: Self.defaultInstance(document))
        context.instanceName = instance
        if let source { context.baseDirectory = URL(fileURLWithPath: source).deletingLastPathComponent().path }
        let shutdownTimeout = root.duration("shutdownTimeout", default: .seconds(10))
        root.markKnown("$schema", "description")
        for (key, validate) in registry.sections {
            if let section = root.object(key) { validate(section) }
        }
        let specs = componentSpecs(root)
        let graph = DependencyGraph(
            nodes: specs.map(\.name),
            edges: specs.flatMap { s in s.using.sorted { $0.key < $1.key }.map { DependencyGraph.Edge(from: s.name, slot: $0.key, to: $0.value) } }
        )
        for cycle in graph.cycles() {
            context.issues.add(.dependencyCycle, at: ConfigPath("components", cycle[0], "using"), "dependency cycle: " + cycle.joined(separator: " → "))
        }
        let built = build(specs, root: root, wiring: wiring)
        root.finish()
        if !context.issues.issues.isEmpty { throw ConfigErrors(context.issues.issues) }
        var spec = SystemSpec(
            name: name, instance: instance, document: document, components: specs, graph: graph,
            shutdownTimeout: shutdownTimeout, secretPaths: context.secretPaths, source: source)
        spec.numericFields = context.numericFields
        return BuiltSystem(
            spec: spec, instances: built.instances, runtimes: built.runtimes,
            types: specs.reduce(into: [:]) { $0[$1.name] = registry.type(named: $1.type) }, wiring: wiring)
    }

    /// The host name and the lowest port an `http-server` names (`web-1:8081`), or
    /// the host name and the process id.
    static func defaultInstance(_ document: JSONObject) -> String {
        // gethostname, not ProcessInfo.hostName, which may ask DNS on every load.
        var buffer = [CChar](repeating: 0, count: 256)
        let name = gethostname(&buffer, buffer.count) == 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let host = name.split(separator: ".").first.map(String.init) ?? "localhost"
        let ports = (document["components"]?.objectValue ?? JSONObject()).compactMap { _, v -> Int? in
            guard v["type"]?.stringValue == "http-server" else { return nil }
            return v["port"]?.intValue
        }
        if let port = ports.min(), port != 0 { return "\(host):\(port)" }
        return "\(host):\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Reads the `components` object: names, types and `using` edges, each checked.
    private func componentSpecs(_ root: ConfigReader) -> [ComponentSpec] {
        guard let components = root.object("components") else {
            if !root.has("components") { root.issue(.missingField, "components", "missing required field \"components\"") }
            return []
        }
        var specs: [ComponentSpec] = []
        for (name, value) in components.object {
            components.markKnown(name)
            let path = components.path.appending(name)
            if !Self.isValidName(name) {
                root.issue(.invalidValue, at: path, "component name \"\(name)\" must start with a letter or digit and use only letters, digits, '-', '_' and '.'")
            }
            guard case .object(let object) = value else {
                root.issue(.wrongType, at: path, "expected an object describing the component, found \(value.kindName)")
                continue
            }
            let type: String
            switch object["type"] {
            case .string(let t)?: type = t
            case nil: root.issue(.missingField, at: path.appending("type"), "missing required field \"type\""); continue
            case let other?: root.issue(.wrongType, at: path.appending("type"), "expected a type name, found \(other.kindName)"); continue
            }
            if registry.type(named: type) == nil {
                root.issue(.unknownType, at: path.appending("type"), "unknown component type \"\(type)\"" + Suggestions.didYouMean(type, in: registry.typeNames))
            }
            var using: [String: String] = [:]
            switch object["using"] {
            case nil: break
            case .object(let u)?:
                for (slot, target) in u {
                    guard case .string(let t) = target else {
                        root.issue(.wrongType, at: path.appending("using").appending(slot), "expected a component name, found \(target.kindName)")
                        continue
                    }
                    if components.object[t] == nil {
                        root.issue(.missingDependency, at: path.appending("using").appending(slot),
                            "no component named \"\(t)\"" + Suggestions.didYouMean(t, in: components.object.keys))
                        continue
                    }
                    using[slot] = t
                }
            case let other?: root.issue(.wrongType, at: path.appending("using"), "expected an object of slot → component name, found \(other.kindName)")
            }
            specs.append(ComponentSpec(name: name, type: type, using: using, config: object))
        }
        return specs
    }

    /// Builds every component of a known type and checks its slots and claims.
    private func build(_ specs: [ComponentSpec], root: ConfigReader, wiring: Wiring)
        -> (instances: [String: any Component], runtimes: [String: ComponentRuntime])
    {
        var instances: [String: any Component] = [:]
        var runtimes: [String: ComponentRuntime] = [:]
        var contexts: [String: ComponentContext] = [:]
        for spec in specs {
            guard let type = registry.type(named: spec.type) else { continue }
            let reader = root.child(spec.config, at: spec.path)
            reader.markKnown("type", "using")
            let runtime = ComponentRuntime(name: spec.name, logger: logger)
            // Slots are offered as written, even those naming a missing component (already
            // reported), so a type whose slots follow its "using" declares them all.
            let written = (spec.config["using"]?.objectValue ?? JSONObject()).compactMap { e in e.value.stringValue.map { (e.key, $0) } }
            let using = Dictionary(written, uniquingKeysWith: { a, _ in a })
            let context = ComponentContext(name: spec.name, config: reader, runtime: runtime, wiring: wiring, using: using)
            do {
                instances[spec.name] = try type.build(context)
                runtimes[spec.name] = runtime
            } catch {
                reader.issue(.invalidValue, nil, "\(error)")
            }
            contexts[spec.name] = context
        }
        for spec in specs {
            guard let context = contexts[spec.name] else { continue }
            checkSlots(spec, context, instances: instances, specs: specs, root: root)
        }
        checkClaims(specs.compactMap { s in contexts[s.name].map { (s, $0) } }, root: root)
        return (instances, runtimes)
    }

    private func checkSlots(_ spec: ComponentSpec, _ context: ComponentContext, instances: [String: any Component], specs: [ComponentSpec], root: ConfigReader) {
        let usingPath = spec.path.appending("using")
        let declared = Set(context.slots.map(\.name))
        for slot in spec.config["using"]?.objectValue?.keys ?? [] where !declared.contains(slot) {
            let known = declared.isEmpty ? " (type \"\(spec.type)\" has no dependency slots)" : Suggestions.didYouMean(slot, in: declared)
            root.issue(.unknownSlot, at: usingPath.appending(slot), "\"\(spec.type)\" has no slot \"\(slot)\"" + known)
        }
        for slot in context.slots {
            guard let target = spec.using[slot.name] else {
                if slot.required, spec.config["using"]?[slot.name] == nil {
                    root.issue(.missingDependency, at: usingPath.appending(slot.name),
                        "\"\(spec.name)\" needs a \(slot.kindName) in slot \"\(slot.name)\": name one under using.\(slot.name)")
                }
                continue
            }
            guard let instance = instances[target], !slot.accepts(instance) else { continue }
            let targetType = specs.first { $0.name == target }?.type ?? "?"
            root.issue(.wrongDependencyKind, at: usingPath.appending(slot.name),
                "slot \"\(slot.name)\" of \"\(spec.name)\" needs a \(slot.kindName), but \"\(target)\" is a \(targetType)")
        }
    }

    private func checkClaims(_ built: [(ComponentSpec, ComponentContext)], root: ConfigReader) {
        var owners: [String: ComponentSpec] = [:]
        for (spec, context) in built {
            for claim in context.claims {
                if let owner = owners[claim.key], owner.name != spec.name {
                    root.issue(.conflict, at: spec.path, "\(claim.description) is already taken by \"\(owner.name)\"")
                } else {
                    owners[claim.key] = spec
                }
            }
        }
    }

    /// Whether `name` can name a component (and be typed at the console unquoted).
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }
}
