import Foundation
import Switchboard

/// JSON figures as a person reads them: aligned `key  value` lines, rounded numbers,
/// durations (`…Seconds` keys) as `1m42s`, sizes (`…Bytes` keys) as `16 MiB`, small objects
/// on one line, and arrays of objects as tables. `--json` gives the machine form instead.
package enum HumanView {
    package static func render(_ value: JSONValue, indent: Int = 0) -> String {
        guard case .object(let o) = value else { return String(repeating: " ", count: indent) + scalar(value, key: "") }
        let pad = String(repeating: " ", count: indent)
        let width = (o.keys.map(\.count).max() ?? 0) + 2
        var lines: [String] = []
        for key in o.keys {
            guard let v = o[key] else { continue }
            let label = pad + key.padding(toLength: width, withPad: " ", startingAt: 0)
            switch v {
            case .object(let inner) where inner.keys.isEmpty:
                lines.append(label + "-")
            case .object(let inner):
                if let line = oneLine(inner), line.count + label.count <= 100 {
                    lines.append(label + line)
                } else {
                    lines.append(pad + key)
                    lines.append(render(v, indent: indent + 2))
                }
            case .array(let items) where items.isEmpty:
                lines.append(label + "none")
            case .array(let items) where items.allSatisfy({ $0.objectValue != nil }):
                lines.append(pad + key)
                lines.append(table(items.compactMap(\.objectValue), indent: indent + 2))
            case .array(let items):
                lines.append(label + items.map { scalar($0, key: key) }.joined(separator: ", "))
            default:
                lines.append(label + scalar(v, key: key))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `k v, k v` for an object of scalars, or nil.
    static func oneLine(_ o: JSONObject) -> String? {
        var parts: [String] = []
        for key in o.keys {
            guard let v = o[key] else { continue }
            switch v {
            case .object, .array: return nil
            default: parts.append("\(key) \(scalar(v, key: key))")
            }
        }
        return parts.joined(separator: ", ")
    }

    static func table(_ rows: [JSONObject], indent: Int) -> String {
        var keys: [String] = []
        for row in rows { for k in row.keys where !keys.contains(k) { keys.append(k) } }
        var cells = [keys.map { $0.uppercased() }]
        for row in rows {
            cells.append(keys.map { k in
                guard let v = row[k] else { return "-" }
                switch v {
                case .object(let o): return oneLine(o) ?? v.jsonText
                case .array(let a): return a.map { scalar($0, key: k) }.joined(separator: ",")
                default: return scalar(v, key: k)
                }
            })
        }
        let widths = keys.indices.map { i in cells.map { $0[i].count }.max() ?? 0 }
        let pad = String(repeating: " ", count: indent)
        return cells.map { row in
            pad + row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0) }.joined()
        }.joined(separator: "\n")
    }

    static func scalar(_ v: JSONValue, key: String) -> String {
        switch v {
        case .null: return "-"
        case .bool(let b): return b ? "yes" : "no"
        case .string(let s): return s
        case .int(let i):
            if key.hasSuffix("Seconds") { return duration(Double(i)) }
            // `historyBytes`, `bufferBytes`, `bytesOnDisk`: a size.
            if key.lowercased().hasSuffix("bytes") || key.hasPrefix("bytes") { return size(i) }
            return "\(i)"
        case .double(let d):
            if key.hasSuffix("Seconds") { return duration(d) }
            if key.hasSuffix("Ms") { return duration(d / 1000) }
            return number(d)
        case .array, .object: return v.jsonText
        }
    }

    /// 0.000027 → 27µs, 0.35 → 350ms, 102.1 → 1m42s, 7384 → 2h3m, 200000 → 2d7h.
    package static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "\(s)" }
        if s < 0.001 { return "\(Int((s * 1e6).rounded()))µs" }
        if s < 1 { return "\(Int((s * 1000).rounded()))ms" }
        if s < 60 { return number(s, places: s < 10 ? 2 : 1) + "s" }
        let t = Int(s)
        if t < 3600 { return "\(t / 60)m\(t % 60)s" }
        if t < 86400 { return "\(t / 3600)h\((t % 3600) / 60)m" }
        return "\(t / 86400)d\((t % 86400) / 3600)h"
    }

    /// 262144 → 256 KiB; 81489 → 79.6 KiB; under 1 KiB in bytes.
    package static func size(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while abs(v) >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : number(v, places: 1) + " " + units[u]
    }

    static func number(_ d: Double, places: Int = 2) -> String {
        guard d.isFinite else { return "\(d)" }
        var s = String(format: "%.\(places)f", d)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}
