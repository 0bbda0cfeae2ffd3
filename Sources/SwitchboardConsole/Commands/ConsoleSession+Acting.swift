import Foundation
import Switchboard
import SwitchboardChannels

/// start, stop, restart, put!, tail, and the commands of component types: commands that act
/// on the system.
extension ConsoleSession {
    func lifecycle(_ spec: CommandSpec, _ rest: String) async throws -> (String, JSONValue) {
        let w = try words(rest, spec, max: 1)
        let map = host.map
        let before = await map.events(last: 1).first?.time
        switch (spec.name, w.first) {
        case ("start", nil): try await map.start()
        case ("stop", nil): await map.stop()
        case ("restart", nil): try await map.restart()
        case ("start", let name?): try await map.start(name)
        case ("stop", let name?): try await map.stop(name)
        case ("restart", let name?): try await map.restart(name)
        default: throw ConsoleError.usage(spec)
        }
        // What happened, from the lifecycle log.
        let events = await map.events(last: 200).filter { before == nil || $0.time > before! }
        let done = events.filter { $0.kind == .running || $0.kind == .stopped }.compactMap { e in e.component.map { "\($0) \(e.kind.rawValue)" + (e.duration.map { " (\($0.short))" } ?? "") } }
        let state = await map.systemState.rawValue
        return ((done.isEmpty ? "nothing to do" : done.joined(separator: "\n")) + "\nsystem: \(state)", .array(events.map(\.json)))
    }

    func put(_ rest: String, _ spec: CommandSpec) async throws -> (String, JSONValue) {
        var (target, payload) = CommandLineParser.head(rest)
        guard !target.isEmpty, !payload.isEmpty else { throw ConsoleError.usage(spec) }
        var wait = Duration.seconds(1)
        if let r = payload.range(of: " --wait ", options: .backwards) {
            switch ConfigReader.parseDuration(text: String(payload[r.upperBound...])) {
            case .success(let d) where d <= .seconds(3600): wait = d
            case .success: throw ConsoleError(reason: .badInput, message: "--wait is at most 1h\nusage: \(spec.usage)")
            case .failure(let problem): throw ConsoleError(reason: .badInput, message: "--wait: \(problem)\nusage: \(spec.usage)")
            }
            payload = String(payload[..<r.lowerBound])
        }
        let sink = try await component(target, as: (any MessageSink).self, kind: "channel", spec: spec)
        let message = try Self.message(from: payload)
        // The stores the channel's messages reach: `put!` waits for their commit, as an
        // endpoint with `"ack": "stored"` does.
        // A bus (itself the target or on the way) gives messages their final ids, so the
        // stores past it cannot be waited for by this id: its commit is the one that counts.
        var stores: [(String, any MessageStore)] = []
        let map = host.map
        for name in [target] + (await map.spec.graph.transitiveDependents(of: target).sorted()) {
            if let store = await map.instance(named: name) as? any MessageStore, await map.state(of: name) == .running { stores.append((name, store)) }
        }
        if let bus = stores.first(where: { $0.1.assignsIDs }) { stores = [bus] }
        let outcome: PutOutcome
        var failures: [String] = []
        var storedAs = message.id
        switch await sink.put(message, timeout: wait, committedBy: stores.map(\.1)) {
        case .refused(let i, let why):
            throw ConsoleError(reason: .notStored, message: "not put: the store \(stores[i].0) cannot keep it (\(why))")
        case .put(let o, let commits):
            outcome = o
            for (i, commit) in commits.enumerated() {
                switch commit {
                case .failure(let why): failures.append("\(stores[i].0): \(why)")
                case .success(let id): storedAs = id
                }
            }
        }
        var data: JSONObject = ["id": .string(message.id.description), "outcome": .string(outcome.rawValue), "channel": .string(target)]
        switch outcome {
        case .accepted where !stores.isEmpty:
            data["stored"] = .array(stores.map { .string($0.0) })
            guard failures.isEmpty else {
                data["outcome"] = "notStored"
                throw ConsoleErrorWithData(reason: .notStored, message: "accepted id=\(message.id) but not stored: " + failures.joined(separator: "; "), data: .object(data))
            }
            data["outcome"] = "stored"
            data["id"] = .string(storedAs.description)
            return ("stored id=\(storedAs) (\(stores.map(\.0).joined(separator: ", ")))", .object(data))
        case .accepted: return ("accepted id=\(message.id)", .object(data))
        case .dropped: return ("dropped by the buffer's policy id=\(message.id)", .object(data))
        case .wouldBlock: throw ConsoleErrorWithData(reason: .wouldBlock, message: "would block: \(target) stayed full for \(wait.short); not put", data: .object(data))
        case .closed: throw ConsoleErrorWithData(reason: .notRunning, message: "\(target) is not running; not put", data: .object(data))
        }
    }

    /// Free text, or a JSON object with `text` and optionally `from`, `room`, `to`, `data`.
    static func message(from payload: String) throws -> Message {
        let trimmed = payload.trimmingSpaces()
        guard trimmed.hasPrefix("{") else {
            var text = trimmed
            if text.count >= 2, let f = text.first, f == "\"" || f == "'", text.last == f { text = String(text.dropFirst().dropLast()) }
            return Message(from: "console", text: text)
        }
        let value: JSONValue
        do { value = try JSONParser.parse(trimmed).value } catch {
            throw ConsoleError(reason: .badInput, message: "bad JSON: \(error.description)")
        }
        // The one message decoder; an operator may send private and data-only messages.
        do {
            return try MessageFields.decode(value, rules: .init(allowsDataOnly: true)).message(defaultFrom: "console")
        } catch .missingText {
            throw ConsoleError(reason: .badInput, message: "a message needs \"text\" (a string) or \"data\"")
        } catch {
            throw ConsoleError(reason: .badInput, message: error.description)
        }
    }

    func tail(_ rest: String, _ spec: CommandSpec, emit: @escaping @Sendable (Frame) async -> Void) async throws -> (String, JSONValue) {
        var w = try words(rest, spec, min: 1, max: 3)
        let limit = try take("-n", from: &w, spec) { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        guard w.count == 1 else { throw ConsoleError.usage(spec) }
        let source = try await component(w[0], as: (any MessageTailable).self, kind: "channel, mult or pub", spec: spec)
        let tap = try source.tail(capacity: 256)
        defer { tap.cancel() }
        var shown = 0
        await emit(.event(text: "tailing \(w[0]) (Ctrl-C to stop)", data: .null))
        while limit.map({ shown < $0 }) ?? true, !Task.isCancelled {
            guard let message = await tap.chan.receive() else { break }
            shown += 1
            let room = message.room.map { " #\($0)" } ?? ""
            let to = message.to.map { " → \($0) (private)" } ?? ""
            await emit(.event(text: "\(LifecycleEvent.timestamp(message.time)) \(message.from)\(to)\(room): \(message.text)  [id \(message.id)]", data: message.json))
        }
        let dropped = tap.counters.dropped
        let why = Task.isCancelled ? "stopped" : (limit != nil && shown >= limit! ? "done" : "the source ended")
        return ("\(why): \(shown) message\(shown == 1 ? "" : "s")" + (dropped > 0 ? ", \(dropped) dropped (the console fell behind)" : ""),
                ["shown": .int(shown), "dropped": .int(dropped)])
    }

    func componentCommands(_ spec: CommandSpec, _ rest: String) async throws -> (String, JSONValue) {
        let w = try words(rest, spec, min: spec.runsBare ? 0 : 1)
        let handlers = await host.map.components(answering: spec.name).compactMap { name, c in (c as? any ConsoleCommands).map { (name, $0) } }
        guard !handlers.isEmpty else { throw ConsoleError(reason: .unknownComponent, message: "no component answers \(spec.name) commands in this system") }
        // A leading or trailing component name picks one; otherwise every one answers.
        var args = w
        var chosen = handlers
        if let first = args.first, let pick = handlers.first(where: { $0.0 == first }) {
            chosen = [pick]
            args.removeFirst()
        } else if let last = args.last, let pick = handlers.first(where: { $0.0 == last }), args.count > 1 {
            chosen = [pick]
            args.removeLast()
        }
        var texts: [String] = []
        var data = JSONObject()
        for (name, c) in chosen {
            let (t, d) = try await c.console(args)
            texts.append(chosen.count > 1 ? "\(name):\n\(t)" : t)
            data[name] = d
        }
        return (texts.joined(separator: "\n"), .object(data))
    }
}
