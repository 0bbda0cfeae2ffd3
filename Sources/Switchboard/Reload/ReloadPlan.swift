import Foundation

/// What a reload will do to each component: the diff between the running spec and a new one.
///
/// Components whose type or `using` changed restart (new instances); a change limited to
/// fields the type can take in place is an update; other changes restart; components only in
/// the new file are added, those only in the old one removed. Every dependent of a restarted
/// component restarts too, because it holds the old instance.
public struct ReloadPlan: Sendable {
    /// What happens to one component.
    public enum Action: String, Sendable {
        case unchanged, update, restart, add, remove
    }

    /// One component's line of the plan.
    public struct Entry: Sendable {
        public let name: String
        public let action: Action
        /// Why, in words (`changed: transforms`, `dependency inbox restarts`).
        public let reason: String
    }

    /// Every component of the old and new files, in start order of the new file (removed ones last).
    public let entries: [Entry]

    /// Computes the plan from the running spec, the types by name, and the new spec.
    public init(from old: SystemSpec, to new: SystemSpec, updatable: (String) -> Set<String>) {
        var action: [String: (Action, String)] = [:]
        for c in new.components {
            guard let before = old.component(c.name) else {
                action[c.name] = (.add, "new")
                continue
            }
            if before.type != c.type {
                action[c.name] = (.restart, "type \(before.type) → \(c.type)")
            } else if before.using != c.using || before.usingAll != c.usingAll {
                action[c.name] = (.restart, "using changed")
            } else {
                let changed = c.changedFields(from: before)
                if changed.isEmpty {
                    action[c.name] = (.unchanged, "")
                } else if changed.isSubset(of: updatable(c.type)) {
                    action[c.name] = (.update, "changed: " + changed.sorted().joined(separator: ", "))
                } else {
                    action[c.name] = (.restart, "changed: " + changed.sorted().joined(separator: ", "))
                }
            }
        }
        // Dependents of restarted components restart, transitively (in the new graph).
        var queue = new.graph.nodes.filter { action[$0]?.0 == .restart }
        while let n = queue.popLast() {
            for d in new.graph.dependents(of: n) where action[d]?.0 == .unchanged || action[d]?.0 == .update {
                action[d] = (.restart, "dependency \(n) restarts")
                queue.append(d)
            }
        }
        let order = new.graph.startOrder() ?? new.graph.nodes
        var entries = order.compactMap { n in action[n].map { Entry(name: n, action: $0.0, reason: $0.1) } }
        for c in old.components where new.component(c.name) == nil {
            entries.append(Entry(name: c.name, action: .remove, reason: "not in the new file"))
        }
        self.entries = entries
    }

    /// The names with `action`.
    public func names(_ action: Action) -> [String] {
        entries.filter { $0.action == action }.map(\.name)
    }

    /// Whether applying the plan changes nothing.
    public var isEmpty: Bool { entries.allSatisfy { $0.action == .unchanged } }

    /// The plan for people: one line per component that changes.
    public var text: String {
        let changes = entries.filter { $0.action != .unchanged }
        guard !changes.isEmpty else { return "nothing to do: every component is unchanged" }
        let width = changes.map(\.name.count).max() ?? 0
        return changes.map { e in
            "  " + e.action.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + e.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + e.reason
        }.joined(separator: "\n") + "\n  (\(names(.unchanged).count) unchanged)"
    }

    /// The plan for programs.
    public var json: JSONValue {
        .array(entries.map { ["name": .string($0.name), "action": .string($0.action.rawValue), "reason": .string($0.reason)] })
    }
}
