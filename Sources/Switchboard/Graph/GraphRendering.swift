import Foundation

/// Text forms of a dependency graph for `switchboard graph` and the console.
extension DependencyGraph {
    /// Graphviz DOT: one node per component labelled with its type, an edge from each
    /// component to what it uses, labelled with the slot.
    public func dot(name: String, types: [String: String]) -> String {
        var out = "digraph \(quoted(name)) {\n  rankdir=LR;\n  node [shape=box];\n"
        for n in nodes {
            out += "  \(quoted(n)) [label=\(quoted("\(n)\n\(types[n] ?? "?")"))];\n"
        }
        for e in edges {
            out += "  \(quoted(e.from)) -> \(quoted(e.to)) [label=\(quoted(e.slot))];\n"
        }
        return out + "}\n"
    }

    /// A Mermaid flowchart of the same graph.
    public func mermaid(types: [String: String]) -> String {
        let ids = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1, "n\($0)") })
        var out = "graph LR\n"
        for n in nodes {
            out += "  \(ids[n]!)[\"\(mermaidText(n))<br/><i>\(mermaidText(types[n] ?? "?"))</i>\"]\n"
        }
        for e in edges {
            out += "  \(ids[e.from]!) -->|\(mermaidText(e.slot))| \(ids[e.to]!)\n"
        }
        return out
    }

    /// A plain-text tree for terminals: each component and what it uses.
    public func text(types: [String: String]) -> String {
        var out = ""
        for n in startOrder() ?? nodes {
            let uses = edges.filter { $0.from == n }.map { "\($0.slot)=\($0.to)" }
            out += "\(n) (\(types[n] ?? "?"))" + (uses.isEmpty ? "" : " ← " + uses.joined(separator: ", ")) + "\n"
        }
        return out
    }

    private func quoted(_ s: String) -> String {
        var out = ""
        JSONValue.writeString(s, to: &out)
        return out
    }

    private func mermaidText(_ s: String) -> String {
        s.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "|", with: "#124;")
            .replacingOccurrences(of: "<", with: "#lt;").replacingOccurrences(of: ">", with: "#gt;")
    }
}

