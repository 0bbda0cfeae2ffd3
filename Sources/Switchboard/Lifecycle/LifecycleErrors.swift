/// A start failed and was rolled back: which component failed and why, what had started
/// (and was stopped again), and what never started.
public struct StartFailure: Error, Sendable, CustomStringConvertible {
    /// The component whose `start()` threw.
    public let component: String
    /// Its error, as it threw it (a `StoreFailure`, a `BindFailure`, …).
    public let error: any Error
    /// Components that had started during the operation and were stopped again, in start order.
    public let rolledBack: [String]
    /// Components of the operation that never started.
    public let neverStarted: [String]
    /// Errors raised while rolling back, by component.
    public let rollbackErrors: [String: String]

    public var description: String {
        var s = "\"\(component)\" failed to start: \(error)"
        s += "\n  rolled back (stopped again): " + (rolledBack.isEmpty ? "none" : rolledBack.joined(separator: ", "))
        s += "\n  never started: " + (neverStarted.isEmpty ? "none" : neverStarted.joined(separator: ", "))
        for (name, e) in rollbackErrors.sorted(by: { $0.key < $1.key }) {
            s += "\n  rollback error in \"\(name)\": \(e)"
        }
        return s
    }

    /// The report as JSON for the console.
    public var json: JSONValue {
        [
            "failed": .string(component), "error": .string("\(error)"),
            "rolledBack": .array(rolledBack.map(JSONValue.string)),
            "neverStarted": .array(neverStarted.map(JSONValue.string)),
            "rollbackErrors": .object(JSONObject(rollbackErrors.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ]
    }
}

/// What a stop did: the order components stopped in and the errors it carried on past.
public struct StopReport: Sendable, CustomStringConvertible {
    /// Components in the order they finished stopping.
    public let stopped: [String]
    /// Stop errors by component; shutdown carried on past each.
    public let errors: [String: String]

    public var description: String {
        var s = "stopped: " + (stopped.isEmpty ? "nothing" : stopped.joined(separator: ", "))
        for (name, e) in errors.sorted(by: { $0.key < $1.key }) { s += "\n  stop error in \"\(name)\": \(e)" }
        return s
    }
}

/// A lifecycle operation named something the map does not hold.
public struct UnknownComponent: Error, Sendable, CustomStringConvertible {
    /// The name asked for.
    public let name: String
    /// The names the map holds.
    public let known: [String]

    /// `name` is not among `known`.
    public init(name: String, known: [String]) {
        self.name = name
        self.known = known
    }

    public var description: String {
        "no component named \"\(name)\"" + Suggestions.didYouMean(name, in: known) + "; components: " + known.joined(separator: ", ")
    }
}
