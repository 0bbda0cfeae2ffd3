import Foundation
import Logging
import Switchboard
import SwitchboardChannels

/// One attached console: its aliases, and the commands it runs one at a time.
///
/// Every command ends in exactly one reply frame; streaming commands (`tail`, `source`)
/// send event frames before it. Nothing typed here can crash the server: every failure is a
/// reply with `ok: false` and a reason.
public final class ConsoleSession: @unchecked Sendable {
    let host: AdminHost
    let peer: String
    var aliases: [String: String] = [:]
    private(set) var detached = false
    private(set) var shutdownRequested = false
    /// The commands of this system (built-ins and its component types' own), as of the
    /// command being run.
    var catalog = CommandCatalog(topics: [])

    /// A session for the console `peer` (its uid, for the log).
    public init(host: AdminHost, peer: String) {
        self.host = host
        self.peer = peer
    }

    /// Runs one command line; `emit` sends event frames; returns the reply.
    public func run(_ line: String, emit: @escaping @Sendable (Frame) async -> Void) async -> Frame {
        await run(line, depth: 0, emit: emit)
    }

    /// Whether the last command asked to detach.
    public var wantsDetach: Bool { detached }

    /// Whether a command asked to end the process (`shutdown --confirm`).
    public var wantsShutdown: Bool { shutdownRequested }

    func run(_ line: String, depth: Int, emit: @escaping @Sendable (Frame) async -> Void) async -> Frame {
        catalog = CommandCatalog(topics: await host.map.consoleTopics)
        let trimmed = line.trimmingSpaces()
        // The rest keeps its trailing spaces: `complete tail ` asks about the next word.
        let (word, rest) = CommandLineParser.head(line)
        guard !word.isEmpty, !word.hasPrefix("#") else { return .reply(ok: true, command: "", text: "") }
        if word.hasPrefix("@"), word.count > 1 {
            do {
                let (text, data) = try await cluster(String(word.dropFirst()), rest, emit: emit)
                return .reply(ok: true, command: word, text: text, data: data)
            } catch let e as ConsoleErrorWithData {
                return .reply(ok: false, command: word, text: e.message, data: e.data, reason: e.reason.rawValue)
            } catch let e as ConsoleError {
                return .reply(ok: false, command: word, text: e.message, reason: e.reason.rawValue)
            } catch {
                return .reply(ok: false, command: word, text: "\(error)", reason: ConsoleError.Reason.failed.rawValue)
            }
        }
        if let expansion = aliases[word] {
            guard depth < 8 else { return .reply(ok: false, command: word, text: "alias \(word) expands too deeply", reason: ConsoleError.Reason.usage.rawValue) }
            return await run(expansion + (rest.isEmpty ? "" : " " + rest), depth: depth + 1, emit: emit)
        }
        // Every command goes to the log; Tab completions (`complete`) only at debug.
        if depth == 0 { host.logger.log(level: word == "complete" ? .debug : .info, "console uid=\(peer): \(trimmed)") }
        guard let spec = catalog.spec(word) else {
            if let type = host.registry?.types.values.first(where: { $0.console?.name == word }) {
                return .reply(ok: false, command: word, text: "\"\(word)\" is answered by a component of type \(type.name), and this system has none: add one to the system file",
                              reason: ConsoleError.Reason.unknownCommand.rawValue)
            }
            let hint = Suggestions.didYouMean(word, in: catalog.names + Array(aliases.keys))
            return .reply(ok: false, command: word, text: "unknown command \"\(word)\"\(hint); type help for the list", reason: ConsoleError.Reason.unknownCommand.rawValue)
        }
        do {
            let (text, data) = try await execute(spec, rest: rest, depth: depth, emit: emit)
            return .reply(ok: true, command: spec.name, text: text, data: data)
        } catch let e as ConsoleError {
            return .reply(ok: false, command: spec.name, text: e.message, reason: e.reason.rawValue)
        } catch let e as ConsoleErrorWithData {
            return .reply(ok: false, command: spec.name, text: e.message, data: e.data, reason: e.reason.rawValue)
        } catch let e as UnknownComponent {
            return .reply(ok: false, command: spec.name, text: e.description, reason: ConsoleError.Reason.unknownComponent.rawValue)
        } catch let e as ConsoleCommandError {
            let usage = e.kind == .usage ? (e.description.isEmpty ? "" : "\n") + "usage: \(spec.usage)" : ""
            return .reply(ok: false, command: spec.name, text: e.description + usage, reason: e.kind.rawValue)
        } catch let e as StartFailure {
            return .reply(ok: false, command: spec.name, text: e.description, data: e.json, reason: ConsoleError.Reason.startFailed.rawValue)
        } catch {
            return .reply(ok: false, command: spec.name, text: "\(error)", reason: ConsoleError.Reason.failed.rawValue)
        }
    }

    private func execute(_ spec: CommandSpec, rest: String, depth: Int, emit: @escaping @Sendable (Frame) async -> Void) async throws -> (String, JSONValue) {
        switch spec.name {
        case "help": return try help(rest)
        case "status": return try await status(rest, spec)
        case "inspect": return try await inspect(rest, spec)
        case "graph": return try await graph(rest, spec)
        case "start", "stop", "restart": return try await lifecycle(spec, rest)
        case "put!": return try await put(rest, spec)
        case "tail": return try await tail(rest, spec, emit: emit)
        case "top": return try await top(rest, spec, emit: emit)
        case "reload":
            let words = try words(rest, spec, max: 1)
            guard words.isEmpty || words == ["--dry-run"] else { throw ConsoleError.usage(spec) }
            let answer = await host.reload(words == ["--dry-run"])
            guard answer.ok else { throw ConsoleErrorWithData(reason: .reloadFailed, message: answer.text, data: answer.data) }
            return (answer.text, answer.data)
        case "config": return try await config(rest, spec)
        case "log": return try await log(rest, spec)
        case "alias": return try alias(rest, spec)
        case "unalias":
            let w = try words(rest, spec, min: 1, max: 1)
            guard aliases.removeValue(forKey: w[0]) != nil else { throw ConsoleError(reason: .unknownAlias, message: "no alias named \(w[0])") }
            return ("forgot \(w[0])", .null)
        case "source": return try await source(rest, spec, depth: depth, emit: emit)
        case "describe": return ("\(catalog.all.count) commands", .array(catalog.all.map(\.json)))
        case "complete":
            let candidates = await complete(rest)
            return (candidates.joined(separator: " "), .array(candidates.map(JSONValue.string)))
        case "shutdown":
            guard try words(rest, spec, max: 1) == ["--confirm"] else {
                throw ConsoleError(reason: .usage, message: "shutdown ends the process for everyone: type shutdown --confirm (quit or Ctrl-D only detach)\nusage: \(spec.usage)")
            }
            // Asked of the host once this reply is on its way (ConsoleConnection): the stop
            // closes every console, this one included.
            shutdownRequested = true
            return ("shutting down", .null)
        case "quit":
            detached = true
            return ("bye", .null)
        default:
            // Not a built-in: the command of a component type (the catalog has no others).
            return try await componentCommands(spec, rest)
        }
    }

    // MARK: Helpers

    func words(_ rest: String, _ spec: CommandSpec, min: Int = 0, max: Int = .max) throws -> [String] {
        let w: [String]
        do { w = try CommandLineParser.words(rest) } catch { throw ConsoleError(reason: .usage, message: "\(error); usage: \(spec.usage)") }
        guard w.count >= min, w.count <= max else { throw ConsoleError.usage(spec) }
        return w
    }

    /// The value after `flag` in `words` (removing both), parsed by `parse`.
    func take<T>(_ flag: String, from words: inout [String], _ spec: CommandSpec, parse: (String) -> T?) throws -> T? {
        guard let i = words.firstIndex(of: flag) else { return nil }
        guard i + 1 < words.count, let v = parse(words[i + 1]) else { throw ConsoleError.usage(spec) }
        words.removeSubrange(i...(i + 1))
        return v
    }

    func component<T>(_ name: String, as type: T.Type, kind: String, spec: CommandSpec) async throws -> T {
        let map = host.map
        guard let instance = await map.instance(named: name) else {
            throw UnknownComponent(name: name, known: await map.names)
        }
        guard let typed = instance as? T else {
            var fitting: [String] = []
            for n in await map.names where await map.instance(named: n) is T { fitting.append(n) }
            let type = await map.spec.component(name)?.type ?? "?"
            throw ConsoleError(reason: .wrongKind, message: "\"\(name)\" is a \(type); \(spec.name) needs a \(kind)" + (fitting.isEmpty ? "" : ": " + fitting.joined(separator: ", ")))
        }
        return typed
    }
}

/// A failure that carries JSON (a reload's errors).
struct ConsoleErrorWithData: Error {
    let reason: ConsoleError.Reason
    let message: String
    let data: JSONValue
}
