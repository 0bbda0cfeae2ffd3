import Switchboard

/// `@all COMMAND` and `@INSTANCE COMMAND`: the command runs on every live instance of the
/// cluster (or the one named) through the component that carries console commands (the bus
/// with `"console": true`), and each instance's answer is shown marked with its name.
extension ConsoleSession {
    /// How long the origin waits for answers: a `tail` streams for 10 s unless its `-n` ends
    /// it sooner, a `reload` may take a minute, anything else 5 s.
    static func clusterTimeout(_ command: String) -> Duration {
        switch command {
        case "tail": .seconds(11)
        case "reload": .seconds(61)
        default: .seconds(6)
        }
    }

    /// The component that carries console commands between instances.
    func carrier() async throws -> any ClusterConsoleCarrier {
        for name in await host.map.names {
            if let c = await host.map.instance(named: name) as? any ClusterConsoleCarrier { return c }
        }
        throw ConsoleError(reason: .unknownComponent, message: "@ commands need a bus with \"console\": true (this system has no bus)")
    }

    func cluster(_ target: String, _ rest: String, emit: @escaping @Sendable (Frame) async -> Void) async throws -> (String, JSONValue) {
        let (command, _) = CommandLineParser.head(rest)
        guard !command.isEmpty else { throw ConsoleError(reason: .usage, message: "usage: @all COMMAND or @INSTANCE COMMAND (e.g. @all status)") }
        guard !["quit", "shutdown", "source", "alias", "unalias", "complete", "top"].contains(command), !command.hasPrefix("@") else {
            throw ConsoleError(reason: .usage, message: "\(command) runs only on the instance the console is attached to")
        }
        let carrier = try await carrier()
        let live = try await carrier.consoleInstances()
        let targets: [String]
        if target == "all" {
            targets = live
        } else if live.contains(target) {
            targets = [target]
        } else {
            let hint = Suggestions.didYouMean(target, in: live)
            throw ConsoleError(reason: .unknownComponent, message: "no live instance \(target)\(hint); the instances are: \(live.joined(separator: ", "))")
        }
        let line = rest.trimmingSpaces()
        host.logger.info("console uid=\(peer): @\(target) \(line) → \(targets.joined(separator: ", "))")
        let event: @Sendable (String, String) async -> Void = { who, text in await emit(.event(text: "[\(who)] \(text)", data: ["instance": .string(who)])) }
        var answers: [(instance: String, reply: RemoteConsoleReply)] = []
        if command == "reload" && targets.count > 1 {
            // Rolling: one instance at a time, each back before the next; the first failure stops it.
            for (i, who) in targets.enumerated() {
                let answer = try await carrier.relay(line, to: [who], timeout: Self.clusterTimeout(command), event: event)[0]
                answers.append(answer)
                await emit(.event(text: "[\(who)] " + (answer.reply.ok ? "reloaded" : "reload failed"), data: ["instance": .string(who)]))
                if !answer.reply.ok {
                    let left = targets.dropFirst(i + 1)
                    let text = render(answers) + "\nrolling reload stopped at \(who)" + (left.isEmpty ? "" : "; not reloaded: \(left.joined(separator: ", "))")
                    throw ConsoleErrorWithData(reason: .reloadFailed, message: text, data: json(answers))
                }
            }
            return (render(answers) + "\nrolling reload done: \(targets.count) instances", json(answers))
        }
        answers = try await carrier.relay(line, to: targets, timeout: Self.clusterTimeout(command), event: event)
        let text = render(answers)
        guard answers.allSatisfy(\.reply.ok) else {
            let failed = answers.filter { !$0.reply.ok }.map(\.instance)
            throw ConsoleErrorWithData(reason: .failed, message: text + "\nfailed on \(failed.joined(separator: ", "))", data: json(answers))
        }
        return (text, json(answers))
    }

    /// Each instance's answer under its name.
    private func render(_ answers: [(instance: String, reply: RemoteConsoleReply)]) -> String {
        answers.map { a in
            let lines = a.reply.text.split(separator: "\n", omittingEmptySubsequences: false)
            return lines.map { "[\(a.instance)] \($0)" }.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    private func json(_ answers: [(instance: String, reply: RemoteConsoleReply)]) -> JSONValue {
        .array(answers.map { ["instance": .string($0.instance), "ok": .bool($0.reply.ok), "text": .string($0.reply.text)] })
    }

    /// `@` completions: `@all` and the live instances.
    func completeInstances(_ prefix: String) async -> [String] {
        guard let carrier = try? await carrier(), let live = try? await carrier.consoleInstances() else { return ["@all"].filter { $0.hasPrefix(prefix) } }
        return (["@all"] + live.map { "@" + $0 }).filter { $0.hasPrefix(prefix) }.sorted()
    }
}

extension AdminHost {
    /// Runs a command that another instance sent (its `origin`), as a console session of its own.
    public var remoteRunner: RemoteConsoleRunner {
        { [self] line, origin, event in
            let session = ConsoleSession(host: self, peer: "instance \(origin)")
            let reply = await session.run(line) { frame in
                if frame.kind == .event, let text = frame.payload["text"]?.stringValue { await event(text) }
            }
            return RemoteConsoleReply(ok: reply.payload["ok"] == .bool(true), text: reply.payload["text"]?.stringValue ?? "")
        }
    }
}
