/// Who depends on whom: the components of a system and their `using` edges.
///
/// Orders are deterministic: among components free to go at the same time, the one written
/// first in `system.json` comes first.
public struct DependencyGraph: Sendable, Equatable {
    /// One `using` edge: `from` fills its slot `slot` with `to`.
    public struct Edge: Sendable, Hashable {
        public let from: String
        public let slot: String
        public let to: String

        /// `from` uses `to` through its slot `slot`.
        public init(from: String, slot: String, to: String) {
            self.from = from
            self.slot = slot
            self.to = to
        }
    }

    /// The component names in file order.
    public let nodes: [String]
    /// The edges in file order.
    public let edges: [Edge]
    private let position: [String: Int]

    /// A graph of `nodes` with `edges`; edges to unknown nodes are ignored.
    public init(nodes: [String], edges: [Edge]) {
        self.nodes = nodes
        let position = Dictionary(nodes.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        self.position = position
        self.edges = edges.filter { position[$0.from] != nil && position[$0.to] != nil }
    }

    /// The components `node` uses directly, in file order.
    public func dependencies(of node: String) -> [String] {
        ordered(Set(edges.filter { $0.from == node }.map(\.to)))
    }

    /// The components that use `node` directly, in file order.
    public func dependents(of node: String) -> [String] {
        ordered(Set(edges.filter { $0.to == node }.map(\.from)))
    }

    /// Everything `node` uses, directly or not.
    public func transitiveDependencies(of node: String) -> Set<String> { reach(from: node, step: dependencies) }

    /// Everything that uses `node`, directly or not.
    public func transitiveDependents(of node: String) -> Set<String> { reach(from: node, step: dependents) }

    private func reach(from node: String, step: (String) -> [String]) -> Set<String> {
        var seen: Set<String> = []
        var stack = step(node)
        while let n = stack.popLast() {
            guard n != node, seen.insert(n).inserted else { continue }
            stack.append(contentsOf: step(n))
        }
        return seen
    }

    /// `names` sorted by file order.
    public func ordered(_ names: some Sequence<String>) -> [String] {
        names.sorted { (position[$0] ?? .max, $0) < (position[$1] ?? .max, $1) }
    }

    /// The cycles, each as the path that closes it (`["a", "b", "a"]`); empty for a DAG.
    public func cycles() -> [[String]] {
        var state: [String: Int] = [:]  // 1 = on the stack, 2 = done
        var stack: [String] = []
        var found: Set<[String]> = []
        func visit(_ n: String) {
            state[n] = 1
            stack.append(n)
            for d in dependencies(of: n) {
                if state[d] == 1, let start = stack.firstIndex(of: d) {
                    found.insert(Self.canonical(Array(stack[start...])))
                } else if state[d] == nil {
                    visit(d)
                }
            }
            stack.removeLast()
            state[n] = 2
        }
        for n in nodes where state[n] == nil { visit(n) }
        return found.map { $0 + [$0[0]] }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    private static func canonical(_ cycle: [String]) -> [String] {
        let i = cycle.indices.min { cycle[$0] < cycle[$1] }!
        return Array(cycle[i...] + cycle[..<i])
    }

    /// The start order in levels: each level only uses earlier ones, so the members of one
    /// level can start concurrently. `nil` when the graph has a cycle.
    public func levels() -> [[String]]? {
        var level: [String: Int] = [:]
        var remaining = nodes
        while !remaining.isEmpty {
            var progressed = false
            remaining.removeAll { n in
                let deps = dependencies(of: n)
                guard deps.allSatisfy({ level[$0] != nil }) else { return false }
                level[n] = (deps.map { level[$0]! }.max() ?? -1) + 1
                progressed = true
                return true
            }
            if !progressed { return nil }
        }
        let depth = (level.values.max() ?? -1) + 1
        return (0..<depth).map { l in nodes.filter { level[$0] == l } }
    }

    /// A start order (dependencies first); `nil` when the graph has a cycle.
    public func startOrder() -> [String]? { levels()?.flatMap { $0 } }
}
