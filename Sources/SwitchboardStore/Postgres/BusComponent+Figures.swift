import Foundation
import Switchboard
import SwitchboardChannels

/// What a bus shows: `inspect`, and the console's `cluster`.
extension BusComponent: Degradable {
    /// Why messages cannot go through the bus now: its database is unreachable.
    public var degradation: String? {
        (try? database.get())?.degradation.map { "its database \(database.target) is unreachable: \($0)" }
    }

    // MARK: Console and figures

    /// The instances seen within three heartbeats, oldest first: read on the upkeep connection
    /// while the bus runs (as the heartbeats are written), through the pool when it is stopped
    /// (it holds no connection then).
    func seenInstances() async throws -> [BusLog.Instance] {
        let running = state.withLock { $0.running != nil }
        return try await log.instances(within: config.heartbeat * 3, on: running ? beats : nil, db: database.get())
    }

    /// `cluster`: the instances seen within three heartbeats.
    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        let rest = words.first == name ? Array(words.dropFirst()) : words
        if let extra = rest.first { throw ConsoleCommandError(.usage, "unexpected \"\(extra)\"") }
        let list = try await seenInstances()
        var rows = [["INSTANCE", "VERSION", "PID", "UP", "SUBSCRIBERS", "STATE", "SEEN", "LAG"]]
        for i in list {
            let up = Int(Date().timeIntervalSince(i.started))
            let me = i.name == instance ? " (this one)" : ""
            rows.append([i.name + me, i.version ?? "-", "\(i.pid)", up < 3600 ? "\(up / 60)m\(up % 60)s" : "\(up / 3600)h\((up % 3600) / 60)m",
                         "\(i.subscribers)", i.state, String(format: "%.1fs ago", i.age), i.lag.map { "\($0) rows" } ?? "-"])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        let text = rows.map { r in r.enumerated().map { $1.padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined() }
        return ("bus \(name) on \(config.table): \(list.count) live instance\(list.count == 1 ? "" : "s")\n" + text.joined(separator: "\n"),
                ["instances": .array(list.map(\.json))])
    }

    public func inspect() async -> JSONValue {
        let s = state.withLock { $0 }
        var o = JSONObject()
        o["instance"] = .string(instance)
        o["table"] = .string(config.table)
        o["source"] = .string(source.target)
        o["database"] = .string(database.target)
        o["lastSeq"] = s.lastSeq.map { .int(Int($0)) } ?? .null
        o["listening"] = .bool(s.listening)
        o["written"] = .int(s.written)
        o["notStored"] = .int(s.notStored)
        o["read"] = .int(s.read)
        o["restamped"] = .int(s.restamped)
        o["listenLost"] = .int(s.listenLost)
        o["catchUps"] = .int(s.catchUps)
        o["announced"] = .int(s.announced)
        o["notifications"] = .int(s.notifications)
        o["batches"] = .int(s.batches)
        o["lag"] = .int(Int(s.lag))
        o["waitingAcks"] = .int(board.waiting)
        o["retention"] = s.retention.json
        o["lastError"] = s.lastError.map(JSONValue.string) ?? .null
        let p = presence.state.withLock { $0 }
        o["presence"] = ["rooms": .int(p.local.count), "remoteUsers": .int(p.remote.values.reduce(into: Set<String>()) { $0.formUnion($1) }.count),
                         "writes": .int(p.writes), "reads": .int(p.reads)]
        if let r = s.running {
            o["inbox"] = .int(r.inbox.stats.count)
            o["count"] = .int(r.out.stats.count)
            o["capacity"] = .int(config.capacity)
        }
        if let why = degradation { o["degraded"] = .string(why) }
        return .object(o)
    }
}
