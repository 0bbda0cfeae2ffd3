import Foundation

/// Reads one JSON object of `system.json` field by field, recording every problem instead of
/// stopping at the first, so a whole file can be checked in one pass.
///
/// Each accessor marks its key as known; `finish()` then reports the keys nobody asked for as
/// unknown fields, with the closest known key as a suggestion. A value may be written as
/// `{"$env": "NAME"}` (optionally with `"default"` or `"optional": true`) to read it from the
/// environment; such values, and those read with `secret(_:)`, are masked wherever the
/// configuration is shown.
///
/// ```swift
/// let size = config.int("size", default: 16, in: 0...1_000_000)
/// let policy = config.oneOf("policy", ["fixed", "dropping", "sliding"], default: "fixed")
/// ```
public final class ConfigReader {
    /// The object being read.
    public let object: JSONObject
    /// Its path in the document.
    public let path: ConfigPath
    let context: ConfigContext
    private var known: Set<String> = []
    private var children: [ConfigReader] = []

    /// A reader over `object` at `path`, sharing `context` with the rest of the document.
    init(_ object: JSONObject, at path: ConfigPath, context: ConfigContext) {
        self.object = object
        self.path = path
        self.context = context
    }

    /// A reader for a standalone object, with its own issue list (used by tests and tools).
    public convenience init(_ object: JSONObject, at path: ConfigPath = ConfigPath(), environment: [String: String] = [:]) {
        self.init(object, at: path, context: ConfigContext(environment: environment))
    }

    /// The problems recorded so far, in this reader and all others of the same document.
    public var issues: [ConfigIssue] { context.issues.issues }

    /// Throws every problem found so far (not only the first), each with its path.
    public func throwIssues() throws(ConfigErrors) {
        let all = issues
        if !all.isEmpty { throw ConfigErrors(all) }
    }

    /// Records a problem with the field `key` (or with the object itself when `key` is nil).
    public func issue(_ reason: ConfigIssue.Reason, _ key: String? = nil, _ message: String) {
        context.issues.add(reason, at: key.map(path.appending) ?? path, message)
    }

    /// Records a problem at an arbitrary path of this object's subtree.
    public func issue(_ reason: ConfigIssue.Reason, at path: ConfigPath, _ message: String) {
        context.issues.add(reason, at: path, message)
    }

    /// Marks keys as known without reading them (e.g. `type` and `using`).
    public func markKnown(_ keys: String...) { known.formUnion(keys) }

    /// The system's name (the document's top-level `name`).
    public var systemName: String { context.systemName }

    /// This process's name among the instances of the system (the document's top-level
    /// `instance`; by default the host name and the first http-server's port).
    public var instanceName: String { context.instanceName }

    /// `path` made absolute against the system file's directory (the working directory for a
    /// document given as text); an absolute path is returned as it is.
    public func resolvedPath(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: context.baseDirectory, isDirectory: true)).standardizedFileURL.path
    }

    /// Whether the object has the key (does not mark it known).
    public func has(_ key: String) -> Bool { object[key] != nil }

    // MARK: Raw access

    /// The value of `key` after `$env` substitution, or `nil` when absent (or unset and optional).
    public func value(_ key: String) -> JSONValue? {
        known.insert(key)
        guard let raw = object[key] else { return nil }
        return resolve(raw, at: path.appending(key))
    }

    /// The value of `key` as written, `$env` and `$var` references left in place (marks it
    /// known): what a module copies into the components it makes.
    public func raw(_ key: String) -> JSONValue? {
        known.insert(key)
        return object[key]
    }

    /// Replaces `{"$env": …}` by the environment's value; records an issue when it is unset.
    func resolve(_ raw: JSONValue, at valuePath: ConfigPath) -> JSONValue? {
        guard case .object(let o) = raw, let ref = o["$env"] else { return raw }
        // A field read as a secret (`secret(_:)`) is marked before it is resolved.
        let readAsSecret = context.secretPaths.contains(valuePath)
        context.secretPaths.insert(valuePath)
        guard case .string(let name) = ref, !name.isEmpty else {
            context.issues.add(.wrongType, at: valuePath.appending("$env"), "expected the name of an environment variable")
            return nil
        }
        for k in o.keys where !["$env", "default", "optional"].contains(k) {
            context.issues.add(.unknownField, at: valuePath.appending(k), "unknown field \"\(k)\" in an $env reference (known: $env, default, optional)")
        }
        if let v = context.lookup(name) { return .string(v) }
        if let d = o["default"] { return d }
        if o["optional"]?.boolValue == true { return nil }
        context.issues.add(.envUnset, at: valuePath, "environment variable \(name) is not set"
            + (readAsSecret ? " (a secret: make one with `openssl rand -hex 32` and export \(name)=<it>)" : ""))
        return nil
    }

    private func typed<T>(_ key: String, _ expected: String, _ convert: (JSONValue) -> T?) -> T? {
        // null is "not set": the field takes its default.
        guard let v = value(key), v != .null else { return nil }
        if let t = convert(v) { return t }
        if case .string(let s) = v, context.secretPaths.contains(path.appending(key)),
            let parsed = try? JSONParser.parse(s).value, let t = convert(parsed)
        {
            return t
        }
        issue(.wrongType, key, "expected \(expected), found \(v.kindName)")
        return nil
    }

    /// Records `d` as the value `key` takes when the document leaves it out (`check --show
    /// --defaults`).
    private func noteDefault(_ key: String, _ d: JSONValue) {
        if object[key] == nil || object[key] == .null { context.defaults[path.appending(key)] = d }
    }

    // MARK: Scalars

    /// An optional string field.
    public func string(_ key: String) -> String? { typed(key, "a string", \.stringValue) }

    /// A string field with a default.
    public func string(_ key: String, default d: String) -> String {
        noteDefault(key, .string(d))
        return string(key) ?? d
    }

    /// A required string field; records a missing-field issue and returns "" when absent.
    public func requiredString(_ key: String) -> String {
        if let s = string(key) { return s }
        if object[key] == nil { issue(.missingField, key, "missing required field \"\(key)\"") }
        return ""
    }

    /// A string field whose value is masked whenever the configuration is shown.
    public func secret(_ key: String) -> String? {
        context.secretPaths.insert(path.appending(key))
        return string(key)
    }

    /// A secret given as one string or several (for key rotation); masked whenever shown.
    public func secrets(_ key: String) -> [String]? {
        context.secretPaths.insert(path.appending(key))
        return strings(key)
    }

    /// An optional integer field, checked against `range`.
    public func int(_ key: String, in range: ClosedRange<Int>? = nil) -> Int? {
        numeric(key, .integer, "an integer", \.intValue, in: range)
    }

    /// An integer field with a default, checked against `range`.
    public func int(_ key: String, default d: Int, in range: ClosedRange<Int>? = nil) -> Int {
        noteDefault(key, .int(d))
        return int(key, in: range) ?? d
    }

    /// An optional number field, checked against `range`.
    public func double(_ key: String, in range: ClosedRange<Double>? = nil) -> Double? {
        numeric(key, .number, "a number", \.doubleValue, in: range)
    }

    /// A number field of `kind` (recorded for `SystemSpec.numericFields`), checked against `range`.
    private func numeric<T: Comparable>(_ key: String, _ kind: NumericField, _ expected: String, _ convert: (JSONValue) -> T?, in range: ClosedRange<T>?) -> T? {
        context.numericFields[path.appending(key)] = kind
        guard let value = typed(key, expected, convert) else { return nil }
        if let range, !range.contains(value) {
            issue(.invalidValue, key, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    /// A boolean field with a default.
    public func bool(_ key: String, default d: Bool) -> Bool {
        noteDefault(key, .bool(d))
        return typed(key, "true or false", \.boolValue) ?? d
    }

    /// A string field that must be one of `choices`.
    public func oneOf(_ key: String, _ choices: [String], default d: String) -> String {
        noteDefault(key, .string(d))
        guard let s = string(key) else { return d }
        guard choices.contains(s) else {
            issue(.invalidValue, key, "\"\(s)\" is not one of \(choices.joined(separator: ", "))" + Suggestions.didYouMean(s, in: choices))
            return d
        }
        return s
    }

    /// A duration field: a number of seconds, or a string such as `"250ms"`, `"15s"`, `"2m"`,
    /// `"1h"`, `"7d"`, at most `Duration.longest`.
    public func duration(_ key: String) -> Duration? {
        context.numericFields[path.appending(key)] = .duration
        guard let v = value(key), v != .null else { return nil }
        let parsed: Result<Duration, DurationProblem>
        if let d = v.doubleValue {
            parsed = Duration.checkedSeconds(d)
        } else if case .string(let s) = v {
            parsed = Self.parseDuration(text: s)
        } else {
            parsed = .failure(.malformed)
        }
        switch parsed {
        case .success(let d): return d
        case .failure(.malformed):
            issue(.wrongType, key, "expected a duration (seconds, or a string like \"500ms\", \"15s\", \"2m\", \"1h\", \"7d\"), found \(v.kindName == "a string" ? "\(v)" : v.kindName)")
        case .failure(let problem):
            issue(.invalidValue, key, problem.description)
        }
        return nil
    }

    /// A duration field with a default.
    public func duration(_ key: String, default d: Duration) -> Duration {
        noteDefault(key, .string(d.configText))
        return duration(key) ?? d
    }

    /// A duration field with a default, checked against `range`.
    public func duration(_ key: String, default d: Duration, in range: ClosedRange<Duration>) -> Duration {
        noteDefault(key, .string(d.configText))
        guard let v = duration(key) else { return d }
        guard range.contains(v) else {
            issue(.invalidValue, key, "\(v.short) is out of range \(range.lowerBound.short)...\(range.upperBound.short)")
            return d
        }
        return v
    }

    /// Parses `"500ms"`, `"15s"`, `"2m"`, `"1h"`, `"7d"` or a bare number of seconds; nil for
    /// anything else, a negative value or one longer than `Duration.longest`.
    public static func parseDuration(_ text: String) -> Duration? {
        try? parseDuration(text: text).get()
    }

    /// Parses a duration as `parseDuration(_:)` does, saying why a text is refused.
    public static func parseDuration(text: String) -> Result<Duration, DurationProblem> {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        let t = text.trimmingSpaces()
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let d = Double(t.dropLast(suffix.count)) else { continue }
            return Duration.checkedSeconds(d * scale)
        }
        guard let d = Double(t) else { return .failure(.malformed) }
        return Duration.checkedSeconds(d)
    }

    // MARK: Collections

    /// A field holding an array of strings (a single string counts as a one-element array).
    public func strings(_ key: String) -> [String]? {
        guard let v = value(key) else { return nil }
        if case .string(let s) = v { return [s] }
        guard case .array(let items) = v else {
            issue(.wrongType, key, "expected an array of strings, found \(v.kindName)")
            return nil
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard let s = resolve(item, at: path.appending(key).appending(i))?.stringValue else {
                issue(.wrongType, at: path.appending(key).appending(i), "expected a string, found \(item.kindName)")
                continue
            }
            out.append(s)
        }
        return out
    }

    /// A field holding an object whose values are all strings.
    public func stringMap(_ key: String) -> [(String, String)]? {
        guard let sub = object(key) else { return nil }
        var out: [(String, String)] = []
        for (k, _) in sub.object {
            if let s = sub.string(k) { out.append((k, s)) }
        }
        return out
    }

    /// A nested object field, read by its own reader (checked for unknown fields by `finish()`).
    public func object(_ key: String) -> ConfigReader? {
        guard let v = value(key) else { return nil }
        guard case .object(let o) = v else {
            issue(.wrongType, key, "expected an object, found \(v.kindName)")
            return nil
        }
        return child(o, at: path.appending(key))
    }

    /// A nested array field: one element at a time, each with its path.
    public func array(_ key: String) -> [(path: ConfigPath, value: JSONValue)]? {
        guard let v = value(key) else { return nil }
        guard case .array(let items) = v else {
            issue(.wrongType, key, "expected an array, found \(v.kindName)")
            return nil
        }
        return items.enumerated().map { (path.appending(key).appending($0.offset), $0.element) }
    }

    /// A reader for an object found elsewhere (e.g. inside an array), checked by `finish()`.
    public func child(_ object: JSONObject, at childPath: ConfigPath) -> ConfigReader {
        let reader = ConfigReader(object, at: childPath, context: context)
        children.append(reader)
        return reader
    }

    /// Reports the keys nobody asked for as unknown fields, here and in nested readers.
    public func finish() {
        for key in object.keys where !known.contains(key) {
            let hint = Suggestions.didYouMean(key, in: known)
            issue(.unknownField, key, "unknown field \"\(key)\"" + hint)
        }
        children.forEach { $0.finish() }
    }
}

/// The kind of a numeric setting, as its reader asked for it.
public enum NumericField: String, Sendable {
    case integer, number, duration
}

/// What all readers of one document share: the issue list, the environment, the secret paths.
final class ConfigContext {
    let issues: IssueCollector
    /// An environment variable's value: the process's, then an environment file's.
    let lookup: @Sendable (String) -> String?
    var secretPaths: Set<ConfigPath> = []
    var numericFields: [ConfigPath: NumericField] = [:]
    /// The defaults of the fields the document leaves out, by path.
    var defaults: [ConfigPath: JSONValue] = [:]
    /// The system's `name`.
    var systemName = "switchboard"
    /// This process's `instance` name.
    var instanceName = ""
    /// Where relative paths in the document are from: the system file's directory.
    var baseDirectory = FileManager.default.currentDirectoryPath

    convenience init(issues: IssueCollector = IssueCollector(), environment: [String: String]) {
        self.init(issues: issues, lookup: { environment[$0] })
    }

    init(issues: IssueCollector = IssueCollector(), lookup: @escaping @Sendable (String) -> String?) {
        self.issues = issues
        self.lookup = lookup
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    package func trimmingSpaces() -> String {
        // Over the UTF-8 bytes, not `Character`s (grapheme breaking cost a publish about 3 µs):
        // the four are ASCII, so both cuts fall between scalars (the end is the byte after the
        // last one kept: a space or the end), and `\r\n` counts as spaces.
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        let text = Substring(self)
        let bytes = text.utf8
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(text[first..<bytes.index(after: last)])
    }
}
