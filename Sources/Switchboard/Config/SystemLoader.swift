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
    /// Where `$env` references and variables' `env` are looked up.
    public var environment: [String: String]
    /// Where a name the environment does not have is looked up next (an `--env-file`).
    public var environmentFile: (@Sendable (String) -> String?)?

    /// The environment, then the environment file.
    var environmentLookup: @Sendable (String) -> String? {
        let environment = environment
        let file = environmentFile
        return { name in environment[name] ?? file?(name) }
    }
    /// The root logger components derive theirs from.
    public var logger: Logger
    /// The profiles (names under the document's `profiles`) applied, in order, before anything
    /// is read: `--profile dev,local`.
    public var profiles: [String] = []
    /// Values of the document's variables, ahead of the environment and the defaults:
    /// `--set port=9000`.
    public var settings: [String: String] = [:]
    /// When not empty, only these components and what they depend on, directly or not, are
    /// built (a partial start: `--only publish,events`).
    public var only: [String] = []
    /// Merge patches applied after the profiles and the modules' expansion (a test's: every
    /// server on port 0, say).
    public var patches: [JSONValue] = []
    /// Instances that stand in for the named components (test doubles, Donut's overrides):
    /// their fields are neither read nor checked, their `using` still orders the start, and
    /// what uses them gets the double (checked against the slot's kind as usual).
    public var overrides: [String: any Component] = [:]

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
        let context = ConfigContext(lookup: environmentLookup)
        for dup in parsed.duplicateKeys {
            let isComponent = dup.elements.count == 2 && dup.elements.first == .key("components")
            let what = isComponent ? "component name \"\(dup.lastKey ?? "")\" is used twice" : "key \"\(dup.lastKey ?? "")\" appears twice"
            context.issues.add(.duplicateName, at: dup, what)
        }
        guard case .object(let written) = parsed.value else {
            throw ConfigErrors([ConfigIssue(.wrongType, at: ConfigPath(), "the document must be a JSON object, found \(parsed.value.kindName)")])
        }
        // What runs: the profiles applied, then the variables in place.
        let (document, variables) = expand(written, context: context)
        let root = ConfigReader(document, at: ConfigPath(), context: context)
        let name = root.string("name", default: "switchboard")
        context.systemName = name
        let instance = root.string("instance", default: Self.defaultInstance(document))
        context.instanceName = instance
        if let source { context.baseDirectory = URL(fileURLWithPath: source).deletingLastPathComponent().path }
        let shutdownTimeout = root.duration("shutdownTimeout", default: .seconds(10))
        root.markKnown("$schema", "description", "vars")
        for (key, validate) in registry.sections {
            if let section = root.object(key) { validate(section) }
        }
        let specs = componentSpecs(root)
        let graph = DependencyGraph(
            nodes: specs.map(\.name),
            edges: specs.flatMap { s in
                s.using.sorted { $0.key < $1.key }.map { DependencyGraph.Edge(from: s.name, slot: $0.key, to: $0.value) }
                    + s.usingAll.sorted { $0.key < $1.key }.flatMap { slot, names in names.map { DependencyGraph.Edge(from: s.name, slot: slot, to: $0) } }
            }
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
        spec.variables = variables
        spec.profiles = profiles
        spec.defaults = context.defaults
        return BuiltSystem(
            spec: spec, instances: built.instances, runtimes: built.runtimes,
            types: specs.reduce(into: [:]) { $0[$1.name] = registry.type(named: $1.type) }, wiring: wiring)
    }

    /// What runs of `written` (issues go to `context`): the profiles applied, the modules
    /// expanded, the patches applied, the refsets resolved, `only` and the overrides applied,
    /// then every `$var` replaced.
    func expand(_ written: JSONObject, context: ConfigContext) -> (JSONObject, SystemVariables) {
        var profiled = Profiles.apply(profiles, to: written, issues: context.issues)
        profiled = expandModules(profiled, context: context)
        // Over the expanded components (a harness names `chat.http`).
        for patch in patches { profiled = MergePatch.apply(patch, to: .object(profiled)).objectValue ?? profiled }
        profiled = resolveRefsets(profiled, issues: context.issues)
        // Before the variables: what is left out needs none of its values.
        if !only.isEmpty { profiled = Self.keeping(only, in: profiled, issues: context.issues) }
        if !overrides.isEmpty { profiled = Self.replacing(Array(overrides.keys), in: profiled, issues: context.issues) }
        let variables = SystemVariables.resolve(profiled, settings: settings, environment: environmentLookup, issues: context.issues)
        var body = profiled
        body["vars"] = nil
        guard case .object(var document) = variables.substitute(.object(body), at: ConfigPath(), issues: context.issues, secretPaths: &context.secretPaths) else {
            return (profiled, variables)
        }
        if let declared = profiled["vars"] { document["vars"] = declared }
        return (document, variables)
    }

    /// `document` with every component whose type is a module replaced by the module's
    /// components, named `<module>.<local>`, at its place, each with its `overrides` applied.
    func expandModules(_ document: JSONObject, context: ConfigContext) -> JSONObject {
        guard let components = document["components"]?.objectValue,
            components.contains(where: { $0.value["type"]?.stringValue.flatMap(registry.module(named:)) != nil })
        else { return document }
        var expanded = JSONObject()
        for (name, value) in components {
            guard case .object(let object) = value, let module = object["type"]?.stringValue.flatMap(registry.module(named:)) else {
                if expanded[name] != nil {
                    context.issues.add(.duplicateName, at: ConfigPath("components", name), "component name \"\(name)\" is also made by a module")
                }
                expanded[name] = value
                continue
            }
            let path = ConfigPath("components", name)
            let reader = ConfigReader(object, at: path, context: context)
            reader.markKnown("type", "overrides")
            var overrides = JSONObject()
            switch object["overrides"] {
            case .object(let o)?: overrides = o
            case nil, .null?: break
            case let other?: context.issues.add(.wrongType, at: path.appending("overrides"), "expected an object: the module's component name → a merge patch over it, found \(other.kindName)")
            }
            let parts = module.expand(ModuleContext(name: name, config: reader))
            reader.finish()
            for (local, component) in parts {
                let full = "\(name).\(local)"
                var made = JSONValue.object(component)
                if let patch = overrides[local] {
                    made = MergePatch.apply(patch, to: made)
                    overrides[local] = nil
                }
                if expanded[full] != nil || (components[full] != nil && full != name) {
                    context.issues.add(.duplicateName, at: path, "component name \"\(full)\" is made by module \(name) and written out too")
                }
                expanded[full] = made
            }
            for (local, _) in overrides {
                let made = parts.map(\.0)
                context.issues.add(.unknownField, at: path.appending("overrides").appending(local),
                                   "module \(name) (\(module.name)) makes no component \"\(local)\" (it makes \(made.joined(separator: ", ")))" + Suggestions.didYouMean(local, in: made))
            }
        }
        var result = document
        result["components"] = .object(expanded)
        return result
    }

    /// `document` with every refset under a component's `using` — `{"$all": "store"}` —
    /// replaced by the names of the components of that type, or failing that of the types
    /// that declare that capability (the component itself left out), in file order: what
    /// `check --show` shows and the graph is made of.
    func resolveRefsets(_ document: JSONObject, issues: IssueCollector) -> JSONObject {
        guard var components = document["components"]?.objectValue else { return document }
        let typeOf = Dictionary(components.compactMap { c in c.value["type"]?.stringValue.map { (c.key, $0) } }, uniquingKeysWith: { a, _ in a })
        for (name, value) in components {
            guard case .object(var object) = value, case .object(var using)? = object["using"] else { continue }
            var changed = false
            for (slot, target) in using {
                guard case .object(let ref) = target, let all = ref["$all"] else { continue }
                let path = ConfigPath("components", name, "using", slot)
                guard ref.count == 1, case .string(let type) = all else {
                    issues.add(.wrongType, at: path, "a refset is {\"$all\": \"<component type or capability>\"} and nothing else")
                    continue
                }
                let selects: (String) -> Bool
                if registry.type(named: type) != nil {
                    selects = { $0 == type }
                } else if registry.capabilityNames.contains(type) {
                    selects = { registry.type(named: $0)?.capabilities.contains(type) == true }
                } else {
                    let known = registry.typeNames + registry.capabilityNames
                    issues.add(.unknownType, at: path.appending("$all"), "unknown component type or capability \"\(type)\"" + Suggestions.didYouMean(type, in: known))
                    continue
                }
                using[slot] = .array(components.filter { $0.key != name && typeOf[$0.key].map(selects) == true }.map { .string($0.key) })
                changed = true
            }
            if changed {
                object["using"] = .object(using)
                components[name] = .object(object)
            }
        }
        var result = document
        result["components"] = .object(components)
        return result
    }

    /// `document` with the components `names` reduced to their `type` and `using`: a double
    /// stands in for each, and their fields (and the variables those use) are not needed.
    static func replacing(_ names: [String], in document: JSONObject, issues: IssueCollector) -> JSONObject {
        guard var components = document["components"]?.objectValue else { return document }
        for name in names.sorted() {
            guard let written = components[name]?.objectValue else {
                issues.add(.missingDependency, at: ConfigPath("components"), "override \(name): no component named \"\(name)\"" + Suggestions.didYouMean(name, in: components.keys))
                continue
            }
            var kept = JSONObject()
            for key in ["type", "using"] { if let v = written[key] { kept[key] = v } }
            components[name] = .object(kept)
        }
        var result = document
        result["components"] = .object(components)
        return result
    }

    /// `document` with only the components `names` and those they use, directly or not; a
    /// name that is not a component is an issue.
    static func keeping(_ names: [String], in document: JSONObject, issues: IssueCollector) -> JSONObject {
        guard let components = document["components"]?.objectValue else { return document }
        var keep = Set<String>()
        var next: [String] = []
        for name in names {
            guard components[name] != nil else {
                issues.add(.missingDependency, at: ConfigPath("components"), "--only \(name): no component named \"\(name)\"" + Suggestions.didYouMean(name, in: components.keys))
                continue
            }
            next.append(name)
        }
        while let name = next.popLast() {
            guard keep.insert(name).inserted else { continue }
            // A slot's target that is not a component is the full validation's to report.
            for target in components[name]?["using"]?.objectValue?.map(\.value) ?? [] {
                let used = target.arrayValue?.compactMap(\.stringValue) ?? target.stringValue.map { [$0] } ?? []
                next += used.filter { components[$0] != nil }
            }
        }
        var result = document
        result["components"] = .object(JSONObject(components.filter { keep.contains($0.key) }.map { ($0.key, $0.value) }))
        return result
    }

    /// The variables of the document at `path` (after the profiles), without building the
    /// system: what `switchboard vars` lists. Problems of the declarations are in `issues`.
    public func variables(file path: String) throws(ConfigErrors) -> (variables: SystemVariables, issues: [ConfigIssue]) {
        try variables(of: Self.object(file: path))
    }

    /// The variables of a document given as text, as `variables(file:)`.
    public func variables(text: String) throws(ConfigErrors) -> (variables: SystemVariables, issues: [ConfigIssue]) {
        try variables(of: Self.object(bytes: Array(text.utf8), source: "the document"))
    }

    private func variables(of written: JSONObject) -> (variables: SystemVariables, issues: [ConfigIssue]) {
        let context = ConfigContext(lookup: environmentLookup)
        let (_, variables) = expand(written, context: context)
        return (variables, context.issues.issues)
    }

    /// The document at `path` as it will run (profiles applied, variables in place), without
    /// building the system; nil when the file is not valid (`load` says why).
    public func document(file path: String) -> JSONObject? {
        (try? Self.object(file: path)).flatMap(document(of:))
    }

    /// The document given as text as it will run, as `document(file:)`.
    public func document(text: String) -> JSONObject? {
        (try? Self.object(bytes: Array(text.utf8), source: "the document")).flatMap(document(of:))
    }

    private func document(of written: JSONObject) -> JSONObject? {
        let context = ConfigContext(lookup: environmentLookup)
        let (document, _) = expand(written, context: context)
        return context.issues.issues.isEmpty ? document : nil
    }

    private static func object(file path: String) throws(ConfigErrors) -> JSONObject {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors([ConfigIssue(.unreadable, at: ConfigPath(), "\(path) cannot be read")])
        }
        return try object(bytes: Array(data), source: path)
    }

    private static func object(bytes: [UInt8], source: String) throws(ConfigErrors) -> JSONObject {
        guard let parsed = try? JSONParser.parse(bytes), case .object(let written) = parsed.value else {
            throw ConfigErrors([ConfigIssue(.syntax, at: ConfigPath(), "\(source) is not a JSON object")])
        }
        return written
    }

    /// The host name and the lowest port an `http-server` names (`web-1:8081`), or
    /// the host name and the process id (`web-1/2176`: a slash, so that it does not read as a port).
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
        return "\(host)/\(ProcessInfo.processInfo.processIdentifier)"
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
                root.issue(.unknownType, at: path.appending("type"), "unknown component type \"\(type)\"" + Suggestions.didYouMean(type, in: registry.allTypeNames))
            }
            var using: [String: String] = [:]
            var usingAll: [String: [String]] = [:]
            switch object["using"] {
            case nil: break
            case .object(let u)?:
                for (slot, target) in u {
                    let slotPath = path.appending("using").appending(slot)
                    let named: [(String, ConfigPath)]
                    switch target {
                    case .string(let t): named = [(t, slotPath)]
                    case .array(let items):
                        // A slot that takes several: a list (or a refset, resolved to one).
                        named = items.enumerated().compactMap { i, item in
                            guard case .string(let t) = item else {
                                root.issue(.wrongType, at: slotPath.appending(i), "expected a component name, found \(item.kindName)")
                                return nil
                            }
                            return (t, slotPath.appending(i))
                        }
                    case .object(let o) where o["$all"] != nil:
                        continue  // a refset that did not resolve: reported where it failed
                    default:
                        root.issue(.wrongType, at: slotPath, "expected a component name, a list of them or {\"$all\": type or capability}, found \(target.kindName)")
                        continue
                    }
                    var found: [String] = []
                    for (t, at) in named {
                        guard components.object[t] != nil else {
                            root.issue(.missingDependency, at: at, "no component named \"\(t)\"" + Suggestions.didYouMean(t, in: components.object.keys))
                            continue
                        }
                        found.append(t)
                    }
                    if case .array = target { usingAll[slot] = found } else if let t = found.first { using[slot] = t }
                }
            case let other?: root.issue(.wrongType, at: path.appending("using"), "expected an object of slot → component name, found \(other.kindName)")
            }
            var spec = ComponentSpec(name: name, type: type, using: using, config: object)
            spec.usingAll = usingAll
            specs.append(spec)
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
            let context = ComponentContext(name: spec.name, config: reader, runtime: runtime, wiring: wiring, using: using, usingAll: spec.usingAll)
            if let double = overrides[spec.name] {
                instances[spec.name] = double
                runtimes[spec.name] = runtime
                continue
            }
            do {
                let instance = try type.build(context)
                instances[spec.name] = instance
                runtimes[spec.name] = runtime
                // A declared capability the component does not have is the type's defect, and
                // a refset would hand it to a slot that cannot use it.
                for name in type.capabilities.sorted() {
                    guard let capability = registry.capabilities[name], !capability.accepts(instance) else { continue }
                    root.issue(.wrongDependencyKind, at: spec.path.appending("type"),
                        "type \"\(type.name)\" declares capability \"\(name)\", but its component is not a \(capability.kindName)")
                }
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
            if slot.many {
                // Each component the slot names must be of its kind.
                let targets = spec.usingAll[slot.name] ?? spec.using[slot.name].map { [$0] } ?? []
                for target in targets {
                    guard let instance = instances[target], !slot.accepts(instance) else { continue }
                    let targetType = specs.first { $0.name == target }?.type ?? "?"
                    root.issue(.wrongDependencyKind, at: usingPath.appending(slot.name),
                        "slot \"\(slot.name)\" of \"\(spec.name)\" takes \(slot.kindName)s, but \"\(target)\" is a \(targetType)")
                }
                continue
            }
            if spec.usingAll[slot.name] != nil {
                root.issue(.wrongType, at: usingPath.appending(slot.name), "slot \"\(slot.name)\" of \"\(spec.name)\" takes one component, not a list")
                continue
            }
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
