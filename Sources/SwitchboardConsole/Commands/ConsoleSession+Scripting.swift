import Foundation
import Switchboard
import SwitchboardChannels

/// alias, source and completion.
extension ConsoleSession {
    func alias(_ rest: String, _ spec: CommandSpec) throws -> (String, JSONValue) {
        let trimmed = rest.trimmingSpaces()
        if trimmed.isEmpty {
            let listing = aliases.keys.sorted().map { "\($0) = \(aliases[$0]!)" }
            return (listing.isEmpty ? "no aliases" : listing.joined(separator: "\n"),
                    .object(JSONObject(aliases.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        guard let eq = trimmed.firstIndex(of: "=") else { throw ConsoleError.usage(spec) }
        let name = trimmed[..<eq].trimmingSpaces()
        let expansion = trimmed[trimmed.index(after: eq)...].trimmingSpaces()
        guard !name.isEmpty, !name.contains(where: \.isWhitespace), !expansion.isEmpty else { throw ConsoleError.usage(spec) }
        guard catalog.spec(name) == nil else {
            throw ConsoleError(reason: .usage, message: "\(name) is a command; an alias cannot replace it")
        }
        aliases[name] = expansion
        return ("\(name) = \(expansion)", [.init(stringLiteral: name): .string(expansion)])
    }

    func source(_ rest: String, _ spec: CommandSpec, depth: Int, emit: @escaping @Sendable (Frame) async -> Void) async throws -> (String, JSONValue) {
        // The console reads the file on its side and sends its lines after the name: the
        // server never opens a file for a console (its user may see what the console's cannot).
        let (name, text) = CommandLineParser.head(rest)
        guard !name.isEmpty else { throw ConsoleError.usage(spec) }
        guard !text.isEmpty else {
            throw ConsoleError(reason: .badInput, message: "source reads \(name) on the console's side, and this console sent no lines: use `switchboard console`, or send `source \(name) <<EOF`, the lines, then EOF")
        }
        guard depth < 8 else { throw ConsoleError(reason: .usage, message: "source nests too deeply") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        var ran = 0
        var failed = 0
        while let command = await CommandLineParser.command({ lines.popFirst() }) {
            let trimmed = command.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let reply = await run(command, depth: depth + 1, emit: emit)
            ran += 1
            if reply.payload["ok"] != true { failed += 1 }
            await emit(.event(text: "> \(trimmed)\n" + (reply.payload["text"]?.stringValue ?? ""), data: reply.payload))
        }
        let summary = "\(name): \(ran) commands" + (failed > 0 ? ", \(failed) failed" : "")
        if failed > 0 { throw ConsoleError(reason: .failed, message: summary) }
        return (summary, ["ran": .int(ran), "failed": .int(failed)])
    }

    /// Candidates for the last word of a partial command line.
    func complete(_ line: String) async -> [String] {
        let endsWithSpace = line.last?.isWhitespace ?? false
        var words = (try? CommandLineParser.words(line)) ?? line.split(separator: " ").map(String.init)
        let prefix = endsWithSpace ? "" : (words.popLast() ?? "")
        if words.isEmpty, prefix.hasPrefix("@") { return await completeInstances(prefix) }
        if words.isEmpty {
            return (catalog.names + aliases.keys).filter { $0.hasPrefix(prefix) }.sorted()
        }
        // `@node-2 inspect ev…` completes as `inspect ev…` would.
        if words[0].hasPrefix("@") { return await complete(String(line.drop { $0 == " " }.drop { $0 != " " }.dropFirst())) }
        guard let spec = catalog.spec(words[0]) else { return [] }
        let position = words.count - 1
        if prefix.hasPrefix("-") { return spec.flags.filter { $0.hasPrefix(prefix) } }
        guard position < spec.words.count else { return [] }
        let map = host.map
        var names: [String]
        switch spec.words[position] {
        case .command: names = catalog.names
        case .component: names = await map.names
        case .channel:
            names = []
            for n in await map.names where await map.instance(named: n) is any MessageSink { names.append(n) }
        case .tailable:
            names = []
            for n in await map.names where await map.instance(named: n) is any MessageTailable { names.append(n) }
        case .alias: names = Array(aliases.keys)
        case .subcommand: names = spec.subcommands
        default: names = []
        }
        return names.filter { $0.hasPrefix(prefix) }.sorted()
    }
}
