import Foundation

/// The document's typed variables (Duct's `:vars`): a top-level `vars` object declares them,
/// and a value anywhere in the document may be `{"$var": "name"}`.
///
/// ```json
/// "vars": { "port": { "type": "port", "default": 8080, "env": "CHAT_PORT", "doc": "where the chat listens" } },
/// "components": { "http": { "type": "http-server", "port": { "$var": "port" } } }
/// ```
///
/// A variable's value comes from, in order: `--set name=value` (`SystemLoader.settings`), the
/// environment variable its `env` names, its `default`. It is parsed as its type before use; a
/// variable that is used but has no value, or whose value does not parse, is a config issue
/// naming the variable, where its value came from and the path that uses it.
///
/// Apple's swift-configuration reads an `--env-file` for the command line (its dotenv parser,
/// `EnvironmentVariablesProvider`; see `SwitchboardCLI.SystemOptions`). The resolution itself
/// is written here: its providers derive an environment variable's name from a key
/// (`http.port` → `HTTP_PORT`) where a declaration here names its own, its command-line
/// provider reads `--key value` from the whole command line (ArgumentParser owns ours:
/// `--set name=value`), and it has no port, duration, size or URL types nor JSON paths in its
/// errors — what it would take over is two lookups.
public struct SystemVariables: Sendable {
    /// A variable's type: what its value must parse as, and the JSON it becomes.
    public enum Kind: String, Sendable, CaseIterable {
        case string, int, port, bool, duration, size, url, secret
    }

    /// Where a variable's value came from.
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        case set
        case environment(String)
        case `default`
        case none

        public var description: String {
            switch self {
            case .set: "--set"
            case .environment(let name): "environment variable \(name)"
            case .default: "default"
            case .none: "no value"
            }
        }
    }

    /// One declared variable and what it resolved to.
    public struct Variable: Sendable {
        public let name: String
        public let kind: Kind
        /// The environment variable it reads, if any.
        public let env: String?
        public let doc: String?
        /// Its value as it goes into the document (nil: none, or it did not parse).
        public let value: JSONValue?
        public let source: Source
        /// Why the value was refused, if it was.
        public let problem: String?

        /// The value as shown: masked for a secret.
        public var shown: String {
            guard let value else { return "-" }
            if kind == .secret { return "••••" }
            return value.stringValue ?? value.jsonText
        }
    }

    /// The declared variables, in file order.
    public let all: [Variable]

    /// The variable named `name`.
    public func variable(_ name: String) -> Variable? { all.first { $0.name == name } }

    /// Reads the declarations of `document["vars"]` and resolves each; problems with a
    /// declaration (or with a `--set` of an undeclared name) go to `issues`.
    static func resolve(_ document: JSONObject, settings: [String: String], environment: (String) -> String?, issues: IssueCollector) -> SystemVariables {
        let declared = document["vars"]
        if let declared, declared.objectValue == nil {
            issues.add(.wrongType, at: ConfigPath("vars"), "expected an object declaring variables, found \(declared.kindName)")
        }
        let declarations = declared?.objectValue ?? JSONObject()
        for name in settings.keys.sorted() where declarations[name] == nil {
            let known = declarations.keys.isEmpty ? "the file declares none" : "the file declares \(declarations.keys.joined(separator: ", "))"
            issues.add(.unknownVariable, at: ConfigPath("vars"), "--set \(name): no variable \"\(name)\" (\(known))" + Suggestions.didYouMean(name, in: declarations.keys))
        }
        var all: [Variable] = []
        for (name, spec) in declarations {
            let path = ConfigPath("vars", name)
            guard case .object(let o) = spec else {
                issues.add(.wrongType, at: path, "expected {\"type\": …, \"default\"?: …, \"env\"?: …, \"doc\"?: …}, found \(spec.kindName)")
                continue
            }
            for key in o.keys where !["type", "default", "env", "doc"].contains(key) {
                issues.add(.unknownField, at: path.appending(key), "unknown field \"\(key)\" in a variable (known: type, default, env, doc)" + Suggestions.didYouMean(key, in: ["type", "default", "env", "doc"]))
            }
            let kind: Kind
            switch o["type"] {
            case .string(let t)?:
                guard let k = Kind(rawValue: t) else {
                    issues.add(.invalidValue, at: path.appending("type"), "\"\(t)\" is not a variable type (one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))"
                        + Suggestions.didYouMean(t, in: Kind.allCases.map(\.rawValue)))
                    continue
                }
                kind = k
            case nil: kind = .string
            case let other?:
                issues.add(.wrongType, at: path.appending("type"), "expected a type name, found \(other.kindName)")
                continue
            }
            var env: String?
            if let e = o["env"] {
                guard case .string(let s) = e, !s.isEmpty else {
                    issues.add(.wrongType, at: path.appending("env"), "expected the name of an environment variable, found \(e.kindName)")
                    continue
                }
                env = s
            }
            let doc = o["doc"]?.stringValue
            // The default is part of the file: a wrong one is the file's problem, used or not.
            var fallback: JSONValue?
            if let d = o["default"], d != .null {
                switch Self.parse(d, as: kind) {
                case .success(let v): fallback = v
                case .failure(let why): issues.add(.invalidValue, at: path.appending("default"), "the default \(why)")
                }
            }
            let raw: (JSONValue, Source)?
            if let s = settings[name] {
                raw = (.string(s), .set)
            } else if let env, let s = environment(env) {
                raw = (.string(s), .environment(env))
            } else {
                raw = nil
            }
            switch raw {
            case (let text, let source)?:
                switch Self.parse(text, as: kind) {
                case .success(let v): all.append(Variable(name: name, kind: kind, env: env, doc: doc, value: v, source: source, problem: nil))
                case .failure(let why): all.append(Variable(name: name, kind: kind, env: env, doc: doc, value: nil, source: source, problem: why))
                }
            case nil:
                all.append(Variable(name: name, kind: kind, env: env, doc: doc, value: fallback, source: fallback == nil ? .none : .default, problem: nil))
            }
        }
        return SystemVariables(all: all)
    }

    /// `value` with every `{"$var": name}` replaced by the variable's value; a reference to an
    /// undeclared variable, or to one without a (valid) value, is an issue at the path that
    /// uses it. The paths a secret went to are added to `secretPaths`.
    func substitute(_ value: JSONValue, at path: ConfigPath, issues: IssueCollector, secretPaths: inout Set<ConfigPath>) -> JSONValue {
        switch value {
        case .object(let o):
            if let ref = o["$var"] {
                guard o.count == 1, case .string(let name) = ref else {
                    issues.add(.wrongType, at: path, "a variable reference is {\"$var\": \"name\"} and nothing else")
                    return .null
                }
                guard let v = variable(name) else {
                    issues.add(.unknownVariable, at: path, "no variable \"\(name)\" (declare it under \"vars\")" + Suggestions.didYouMean(name, in: all.map(\.name)))
                    return .null
                }
                if let problem = v.problem {
                    issues.add(.invalidValue, at: path, "variable \(name): the value from \(v.source) \(problem)")
                    return .null
                }
                guard let resolved = v.value else {
                    let ways = ["--set \(name)=…"] + (v.env.map { ["the environment variable \($0)"] } ?? []) + ["a \"default\" in vars.\(name)"]
                    issues.add(.variableUnset, at: path, "variable \(name) has no value: give it \(ways.joined(separator: ", or "))")
                    return .null
                }
                if v.kind == .secret { secretPaths.insert(path) }
                return resolved
            }
            return .object(JSONObject(o.map { ($0.key, substitute($0.value, at: path.appending($0.key), issues: issues, secretPaths: &secretPaths)) }))
        case .array(let items):
            return .array(items.enumerated().map { substitute($0.element, at: path.appending($0.offset), issues: issues, secretPaths: &secretPaths) })
        default:
            return value
        }
    }

    /// `value` (text from `--set` or the environment, or the JSON of a default) as `kind`:
    /// the JSON that goes into the document, or why it is not one.
    static func parse(_ value: JSONValue, as kind: Kind) -> Parsed {
        let text = value.stringValue
        switch kind {
        case .string, .secret:
            guard let text else { return .failure("is \(value.kindName), not a string") }
            return .success(.string(text))
        case .int, .port:
            let n = value.intValue ?? text.flatMap { Int($0.trimmingSpaces()) }
            guard let n else { return .failure("\(Self.quoted(value)) is not an integer") }
            if kind == .port, !(0...65535).contains(n) { return .failure("\(n) is not a port (0…65535)") }
            return .success(.int(n))
        case .bool:
            if let b = value.boolValue { return .success(.bool(b)) }
            switch text?.trimmingSpaces().lowercased() {
            case "true", "yes", "on", "1": return .success(.bool(true))
            case "false", "no", "off", "0": return .success(.bool(false))
            default: return .failure("\(Self.quoted(value)) is not true or false")
            }
        case .duration:
            if let d = value.doubleValue, text == nil {
                switch Duration.checkedSeconds(d) {
                case .success: return .success(.double(d))
                case .failure(let problem): return .failure(problem.description)
                }
            }
            guard let text else { return .failure("is \(value.kindName), not a duration") }
            switch ConfigReader.parseDuration(text: text) {
            case .success: return .success(.string(text.trimmingSpaces()))
            case .failure(.malformed): return .failure("\"\(text)\" is not a duration (like \"500ms\", \"15s\", \"2m\", \"1h\", \"7d\")")
            case .failure(let problem): return .failure("\"\(text)\": \(problem.description)")
            }
        case .size:
            if let n = value.intValue, n >= 0 { return .success(.int(n)) }
            guard let text, let n = Self.parseSize(text) else { return .failure("\(Self.quoted(value)) is not a size (bytes, or like \"512KiB\", \"16MiB\", \"1GB\")") }
            return .success(.int(n))
        case .url:
            guard let text, let url = URL(string: text), let scheme = url.scheme, !scheme.isEmpty, url.host?.isEmpty == false else {
                return .failure("\(Self.quoted(value)) is not a URL with a scheme and a host")
            }
            return .success(.string(text))
        }
    }

    /// Bytes, or a number with `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`: nil for
    /// anything else, a negative size or one past `Int.max`.
    static func parseSize(_ text: String) -> Int? {
        let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
                                         ("KB", 1000), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1)]
        let t = text.trimmingSpaces()
        if let n = Int(t), n >= 0 { return n }
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let d = Double(t.dropLast(suffix.count).trimmingSpaces()), d.isFinite, d >= 0 else { return nil }
            let bytes = (d * scale).rounded()
            guard bytes < 9.2e18 else { return nil }
            return Int(bytes)
        }
        return nil
    }

    /// A value parsed as its variable's type, or why it is not one.
    enum Parsed {
        case success(JSONValue)
        case failure(String)
    }

    private static func quoted(_ value: JSONValue) -> String {
        value.stringValue.map { "\"\($0)\"" } ?? value.jsonText
    }
}
