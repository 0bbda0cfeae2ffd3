import Foundation
import Switchboard

/// help, status, inspect, graph, config, log: commands that look and change nothing.
extension ConsoleSession {
    func help(_ rest: String) throws -> (String, JSONValue) {
        let w = (try? CommandLineParser.words(rest)) ?? []
        if let name = w.first {
            guard let spec = catalog.spec(name) else {
                throw ConsoleError(reason: .unknownCommand, message: "no command \"\(name)\"" + Suggestions.didYouMean(name, in: catalog.names))
            }
            let aka = spec.aliases.isEmpty ? "" : "\n  also: " + spec.aliases.joined(separator: ", ")
            return ("\(spec.usage)\n  \(spec.summary)\(aka)", spec.json)
        }
        let width = catalog.all.map(\.name.count).max() ?? 8
        var text = "commands:\n"
        for spec in catalog.all {
            text += "  " + spec.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + spec.summary + "\n"
        }
        if !aliases.isEmpty {
            text += "aliases: " + aliases.keys.sorted().joined(separator: ", ") + "\n"
        }
        text += "help <command> for its usage"
        return (text, .array(catalog.all.map(\.json)))
    }

    func status(_ rest: String, _ spec: CommandSpec) async throws -> (String, JSONValue) {
        _ = try words(rest, spec, max: 0)
        let map = host.map
        let rows = await map.status().arrayValue ?? []
        var enriched: [JSONValue] = []
        var table: [[String]] = [["COMPONENT", "TYPE", "STATE", "UPTIME", "USES", "FIGURES"]]
        var reasons: [String] = []
        for row in rows {
            guard case .object(var o) = row, let name = o["name"]?.stringValue else { continue }
            let figures = (try? await map.inspect(name))?["figures"] ?? .null
            let key = Self.keyFigures(figures)
            o["figures"] = figures
            enriched.append(.object(o))
            let uses = (o["dependencies"]?.objectValue ?? JSONObject()).map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: " ")
            let uptime = o["uptimeSeconds"]?.doubleValue.map(Self.uptime) ?? "-"
            var state = o["state"]?.stringValue ?? "?"
            // Why a component failed, or runs without what it needs (a database that went
            // away), is listed whole under the table: a long reason would widen every row.
            if state == "failed", let e = o["lastError"]?.stringValue { reasons.append("\(name) failed: \(e)") }
            if let why = o["degraded"]?.stringValue ?? figures["degraded"]?.stringValue {
                state = "degraded"
                reasons.append("\(name) degraded: \(why)")
            }
            table.append([name, o["type"]?.stringValue ?? "", state, uptime, uses.isEmpty ? "-" : uses, key])
        }
        let header = "system \(await map.spec.name): \(await map.systemState.rawValue)\n"
        let why = reasons.isEmpty ? "" : "\n\n" + reasons.joined(separator: "\n")
        return (header + Self.render(table) + why, .array(enriched))
    }

    static func keyFigures(_ f: JSONValue) -> String {
        var parts: [String] = []
        if let count = f["count"]?.intValue, let cap = f["capacity"]?.intValue { parts.append("fill \(count)/\(cap)") }
        if let d = f["dropped"]?.intValue, d > 0 { parts.append("dropped \(d)") }
        if let t = f["tapCount"]?.intValue {
            // A mult's consumers: listeners (SSE endpoints, run in its loop) and taps.
            let l = f["listeners"]?.intValue ?? 0
            parts.append("consumers \(t + l) (\(l) listener\(l == 1 ? "" : "s"), \(t) tap\(t == 1 ? "" : "s"))")
        }
        if let rows = f["rows"]?.intValue, let lag = f["lag"]?.intValue {
            // A store: what it holds and what it has taken but not yet committed.
            parts.append("rows \(rows) lag \(lag)")
        }
        if let s = f["subscribers"]?.intValue { parts.append("subscribers \(s)") }
        if let w = f["written"]?.intValue, let r = f["read"]?.intValue, f["lastSeq"] != nil {
            // A bus: what this instance wrote to the shared log and what it read back.
            parts.append("wrote \(w) read \(r)" + ((f["notStored"]?.intValue ?? 0) > 0 ? " notStored \(f["notStored"]!.intValue!)" : ""))
        }
        if let size = f["poolSize"]?.intValue, let used = f["inUse"]?.intValue { parts.append("pool \(used)/\(size) reconnects \(f["reconnects"]?.intValue ?? 0)") }
        if let s = f["sessions"]?.intValue { parts.append("sessions \(s)") }
        if let p = f["port"]?.intValue, let c = f["connections"]?.intValue { parts.append("port \(p) conns \(c)") }
        if let a = f["counts"]?["accepted"]?.intValue { parts.append("accepted \(a)") }
        if let d = f["delivered"]?.intValue { parts.append("delivered \(d)") }
        if let r = f["retrying"]?.intValue, r > 0 { parts.append("retrying \(r)") }
        if let dl = f["deadLetters"]?.intValue, dl > 0 { parts.append("dead \(dl)") }
        if parts.isEmpty, case .object(let own) = f {
            // A type of one's own: its first three top-level numbers, as it orders them.
            for (key, v) in own where parts.count < 3 {
                if case .int(let n) = v { parts.append("\(key) \(n)") } else if case .double(let d) = v, d.isFinite { parts.append("\(key) \(d)") }
            }
        }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    static func uptime(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        return "\(s / 3600)h\((s % 3600) / 60)m"
    }

    static func render(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { i in rows.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0) }.joined()
        }.joined(separator: "\n")
    }

    func inspect(_ rest: String, _ spec: CommandSpec) async throws -> (String, JSONValue) {
        var w = try words(rest, spec, min: 1, max: 2)
        let json = w.contains("--json")
        w.removeAll { $0 == "--json" }
        guard w.count == 1 else { throw ConsoleError.usage(spec) }
        let info = try await host.map.inspect(w[0])
        return (json ? info.prettyJSONText : Self.inspectView(info), info)
    }

    /// The header (state, uptime, wiring), then the figures, then the configuration.
    static func inspectView(_ info: JSONValue) -> String {
        let name = info["name"]?.stringValue ?? "?"
        var head = "\(name) (\(info["type"]?.stringValue ?? "?")): \(info["state"]?.stringValue ?? "?")"
        if let up = info["uptimeSeconds"]?.doubleValue { head += " for \(HumanView.duration(up))" }
        if let ms = info["startDurationMs"]?.doubleValue { head += ", started in \(HumanView.duration(ms / 1000))" }
        if let e = info["lastError"]?.stringValue { head += "\n  last error: \(e)" }
        var lines = [head]
        let uses = (info["dependencies"]?.objectValue ?? JSONObject()).map { "\($0.key)=\($0.value.stringValue ?? "")" }
        lines.append("  uses     " + (uses.isEmpty ? "-" : uses.joined(separator: " ")))
        let usedBy = (info["dependents"]?.arrayValue ?? []).compactMap(\.stringValue)
        lines.append("  used by  " + (usedBy.isEmpty ? "-" : usedBy.joined(separator: ", ")))
        if let figures = info["figures"], figures.objectValue?.keys.isEmpty == false {
            lines.append("figures")
            lines.append(HumanView.render(figures, indent: 2))
        }
        if let config = info["config"] {
            lines.append("config")
            lines.append(HumanView.render(config, indent: 2))
        }
        return lines.joined(separator: "\n")
    }

    func graph(_ rest: String, _ spec: CommandSpec) async throws -> (String, JSONValue) {
        var w = try words(rest, spec, max: 2)
        let format = try take("--format", from: &w, spec) { ["text", "dot", "mermaid"].contains($0) ? $0 : nil } ?? "text"
        guard w.isEmpty else { throw ConsoleError.usage(spec) }
        let s = await host.map.spec
        let text = switch format {
        case "dot": s.graph.dot(name: s.name, types: s.types)
        case "mermaid": s.graph.mermaid(types: s.types)
        default: s.graph.text(types: s.types)
        }
        let edges: [JSONValue] = s.graph.edges.map { ["from": .string($0.from), "slot": .string($0.slot), "to": .string($0.to)] }
        let levels: [JSONValue] = (s.graph.levels() ?? []).map { .array($0.map(JSONValue.string)) }
        return (text.trimmingSpaces(), ["nodes": .array(s.graph.nodes.map(JSONValue.string)), "edges": .array(edges), "levels": .array(levels)])
    }

    func config(_ rest: String, _ spec: CommandSpec) async throws -> (String, JSONValue) {
        let w = try words(rest, spec, max: 1)
        let s = await host.map.spec
        if let name = w.first {
            guard let c = s.maskedConfig(of: name) else { throw UnknownComponent(name: name, known: s.graph.nodes) }
            return (c.prettyJSONText, c)
        }
        let doc = s.maskedDocument()
        return ((s.source.map { "# \($0)\n" } ?? "") + doc.prettyJSONText, doc)
    }

    func log(_ rest: String, _ spec: CommandSpec) async throws -> (String, JSONValue) {
        var w = try words(rest, spec, max: 2)
        let n = try take("-n", from: &w, spec) { Int($0).flatMap { $0 > 0 ? $0 : nil } } ?? 30
        guard w.isEmpty else { throw ConsoleError.usage(spec) }
        let events = await host.map.events(last: n)
        return (events.map(\.line).joined(separator: "\n"), .array(events.map(\.json)))
    }
}
