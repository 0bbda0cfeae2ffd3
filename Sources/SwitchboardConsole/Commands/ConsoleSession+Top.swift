import Foundation
import Switchboard

/// `top`: every component's rates, refreshed each second, like `varnishstat` or
/// `redis-cli --stat`. The rates come from the same figures `inspect` and `/metrics` show.
extension ConsoleSession {
    /// Where a type keeps the figures `top` shows: counters turned into rates, and levels.
    struct TopFigures {
        var inbound: [String]? = nil
        var outbound: [String]? = nil
        var dropped: [String]? = nil
        var connections: [String]? = nil
        var lag: [String]? = nil
        /// The total of a `counts` object (requests by outcome) is the inbound counter.
        var countsAreInbound = false
    }

    static let topFigures: [String: TopFigures] = [
        "channel": TopFigures(inbound: ["puts"], outbound: ["takes"], dropped: ["dropped"], lag: ["count"]),
        "mult": TopFigures(connections: ["tapCount"]),
        "http-server": TopFigures(inbound: ["requests", "total"], connections: ["connections"]),
        "publish": TopFigures(countsAreInbound: true),
        "webhook-in": TopFigures(countsAreInbound: true),
        "websocket": TopFigures(connections: ["sessions"], countsAreInbound: true),
        "sse": TopFigures(outbound: ["delivered"], dropped: ["dropped"], connections: ["subscribers"]),
        "webhook-out": TopFigures(outbound: ["delivered"], dropped: ["failed"], lag: ["retrying"]),
        "store": TopFigures(inbound: ["written"], lag: ["lag"]),
        // Rows this instance appended, rows it emitted from the log, batches refused; lag behind the log.
        "bus": TopFigures(inbound: ["written"], outbound: ["read"], dropped: ["notStored"], lag: ["lag"]),
    ]

    package struct TopSample {
        package init(type: String, state: String, counters: [String: Double], levels: [String: Double]) {
            self.type = type
            self.state = state
            self.counters = counters
            self.levels = levels
        }

        var type: String
        var state: String
        var counters: [String: Double]
        var levels: [String: Double]
    }

    func top(_ rest: String, _ spec: CommandSpec, emit: @escaping @Sendable (Frame) async -> Void) async throws -> (String, JSONValue) {
        var w = try words(rest, spec, max: 2)
        let screens = try take("-n", from: &w, spec) { Int($0).flatMap { (1...100_000).contains($0) ? $0 : nil } }
        guard w.isEmpty else { throw ConsoleError.usage(spec) }
        let clock = ContinuousClock()
        var before = await topSamples()
        var at = clock.now
        var shown = 0
        if screens == nil { await emit(.event(text: "refreshing every second (Ctrl-C to stop)", data: .null)) }
        while screens.map({ shown < $0 }) ?? true {
            do { try await Task.sleep(for: .seconds(1)) } catch { break }
            let now = await topSamples()
            let elapsed = (clock.now - at) / .seconds(1)
            at = clock.now
            let (text, data) = Self.topScreen(before: before, now: now, seconds: elapsed, system: await host.map.spec.name)
            before = now
            shown += 1
            await emit(.event(text: text, data: data))
        }
        return ((Task.isCancelled ? "stopped" : "done") + ": \(shown) screen\(shown == 1 ? "" : "s")", ["screens": .int(shown)])
    }

    private func topSamples() async -> [(String, TopSample)] {
        let map = host.map
        var out: [(String, TopSample)] = []
        for row in await map.status().arrayValue ?? [] {
            guard let name = row["name"]?.stringValue, let type = row["type"]?.stringValue else { continue }
            let f = (try? await map.inspect(name))?["figures"] ?? .null
            let spec = Self.topFigures[type] ?? TopFigures()
            func value(_ path: [String]?) -> Double? {
                guard let path else { return nil }
                return path.reduce(Optional(f)) { $0?[$1] }?.doubleValue
            }
            var counters: [String: Double] = [:]
            var levels: [String: Double] = [:]
            counters["in"] = value(spec.inbound)
            if spec.countsAreInbound, case .object(let counts)? = f["counts"] {
                counters["in"] = counts.compactMap { $0.value.doubleValue }.reduce(0, +)
            }
            counters["out"] = value(spec.outbound)
            counters["drop"] = value(spec.dropped)
            levels["conns"] = value(spec.connections)
            levels["lag"] = value(spec.lag)
            out.append((name, TopSample(type: type, state: row["state"]?.stringValue ?? "?", counters: counters, levels: levels)))
        }
        return out
    }

    package static func topScreen(before: [(String, TopSample)], now: [(String, TopSample)], seconds: Double, system: String) -> (String, JSONValue) {
        let earlier = Dictionary(before, uniquingKeysWith: { a, _ in a })
        var rows: [[String]] = [["COMPONENT", "TYPE", "STATE", "IN/s", "OUT/s", "DROP/s", "CONNS", "LAG"]]
        var data = JSONObject()
        for (name, s) in now {
            var o = JSONObject()
            o["type"] = .string(s.type)
            o["state"] = .string(s.state)
            var cells = [name, s.type, s.state]
            for key in ["in", "out", "drop"] {
                // A counter that went down was reset (a restart): its rate starts again from zero.
                guard let v = s.counters[key] else { cells.append("-"); continue }
                let was = earlier[name]?.counters[key] ?? v
                let rate = max(0, v - (was <= v ? was : 0)) / max(seconds, 0.001)
                o[key + "PerSecond"] = .double((rate * 10).rounded() / 10)
                cells.append(rate < 10 ? String(format: "%.1f", rate) : String(Int(rate.rounded())))
            }
            for key in ["conns", "lag"] {
                guard let v = s.levels[key] else { cells.append("-"); continue }
                o[key] = .int(Int(v))
                cells.append(String(Int(v)))
            }
            rows.append(cells)
            data[name] = .object(o)
        }
        let header = "\(system) — \(LifecycleEvent.timestamp(Date()))"
        return (header + "\n" + render(rows), .object(data))
    }
}
