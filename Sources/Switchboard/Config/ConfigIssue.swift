/// One problem found in `system.json`, with the JSON path it concerns.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    /// Why the configuration was refused; tests match on this, not on the message text.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case syntax
        case unknownType
        case unknownField
        case missingField
        case wrongType
        case invalidValue
        case missingDependency
        case unknownSlot
        case wrongDependencyKind
        case dependencyCycle
        case duplicateName
        case envUnset
        /// A `$var` naming no declared variable, or `--set` of one.
        case unknownVariable
        /// A variable used with no value from `--set`, the environment or a default.
        case variableUnset
        case conflict
        case unreadable
    }

    /// Why.
    public let reason: Reason
    /// Where in the document.
    public let path: ConfigPath
    /// The human explanation, without the path.
    public let message: String

    /// An issue at `path`.
    public init(_ reason: Reason, at path: ConfigPath, _ message: String) {
        self.reason = reason
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Every problem found in a configuration; thrown when there is at least one.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    /// The problems, in document order.
    public let issues: [ConfigIssue]

    /// A list of problems, sorted by path.
    public init(_ issues: [ConfigIssue]) {
        self.issues = issues.sorted { $0.path < $1.path }
    }

    /// The issues with this reason.
    public func issues(_ reason: ConfigIssue.Reason) -> [ConfigIssue] {
        issues.filter { $0.reason == reason }
    }

    public var description: String {
        let noun = issues.count == 1 ? "problem" : "problems"
        return "\(issues.count) configuration \(noun):\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Collects issues from every part of a configuration so they can be reported at once.
package final class IssueCollector {
    /// The issues collected so far.
    public private(set) var issues: [ConfigIssue] = []

    /// An empty collector.
    public init() {}

    /// Records an issue.
    public func add(_ issue: ConfigIssue) {
        if !issues.contains(issue) { issues.append(issue) }
    }

    /// Records an issue.
    public func add(_ reason: ConfigIssue.Reason, at path: ConfigPath, _ message: String) {
        add(ConfigIssue(reason, at: path, message))
    }
}
