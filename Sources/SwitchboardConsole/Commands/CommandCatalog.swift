import Switchboard

/// One console command: its name, how it is used, and what its words name (for completion).
public struct CommandSpec: Sendable {
    /// What a word of the command names, so completion can offer the right names.
    public enum Word: String, Sendable {
        case component, channel, tailable, command, text, flag, file, alias, count, subcommand
    }

    public let name: String
    public let aliases: [String]
    public let usage: String
    public let summary: String
    public let words: [Word]
    public let flags: [String]
    /// What may follow the name, for a component type's command (`dead`, `redeliver`).
    public var subcommands: [String] = []
    /// Whether a component type's command runs without arguments.
    public var runsBare = false

    var json: JSONValue {
        [
            "name": .string(name), "aliases": .array(aliases.map(JSONValue.string)), "usage": .string(usage),
            "summary": .string(summary), "words": .array(words.map { .string($0.rawValue) }),
            "flags": .array(flags.map(JSONValue.string)),
        ]
    }
}

/// The commands a console understands: the built-in ones, then those the system's component
/// types bring (`ConsoleTopic`, e.g. webhook-out's `webhooks`).
public struct CommandCatalog: Sendable {
    public static let builtIn: [CommandSpec] = [
        .init(name: "help", aliases: ["?"], usage: "help [command]", summary: "list the commands, or explain one", words: [.command], flags: []),
        .init(name: "status", aliases: ["ps"], usage: "status", summary: "every component: type, state, uptime, dependencies, key figures", words: [], flags: []),
        .init(name: "inspect", aliases: [], usage: "inspect <component> [--json]", summary: "a component's state, live figures and configuration (--json: as JSON)", words: [.component], flags: ["--json"]),
        .init(name: "graph", aliases: [], usage: "graph [--format text|dot|mermaid]", summary: "the dependency graph", words: [], flags: ["--format"]),
        .init(name: "start", aliases: [], usage: "start [component]", summary: "start the system, or one component (what it uses first, then it, then the dependents its stop took down)", words: [.component], flags: []),
        .init(name: "stop", aliases: [], usage: "stop [component]", summary: "stop the system, or one component after its dependents", words: [.component], flags: []),
        .init(name: "restart", aliases: [], usage: "restart [component]", summary: "stop and start the system, or one component and its dependents", words: [.component], flags: []),
        .init(name: "put!", aliases: ["put"], usage: "put! <channel> <text | json> [--wait 1s]   (or put! <channel> <<EOF … EOF)", summary: "put a message on a channel; says stored (when a store keeps the channel's messages), accepted, dropped, or would block", words: [.channel, .text], flags: ["--wait"]),
        .init(name: "tail", aliases: [], usage: "tail <channel|mult|pub> [-n N]", summary: "stream messages as they pass (drop-oldest tap; Ctrl-C ends)", words: [.tailable], flags: ["-n"]),
        .init(name: "top", aliases: [], usage: "top [-n N]", summary: "every component's rates (in, out, drops per second), connections and lag, refreshed each second until Ctrl-C (-n N: N screens)", words: [], flags: ["-n"]),
        .init(name: "reload", aliases: [], usage: "reload [--dry-run]", summary: "re-read system.json and apply the changes without a restart", words: [], flags: ["--dry-run"]),
        .init(name: "config", aliases: [], usage: "config [component]", summary: "the configuration in force (secrets masked)", words: [.component], flags: []),
        .init(name: "log", aliases: [], usage: "log [-n N]", summary: "the lifecycle event log", words: [], flags: ["-n"]),
        .init(name: "alias", aliases: [], usage: "alias [NAME = COMMAND…]", summary: "define a shortcut for this console (no arguments: list them)", words: [.alias], flags: []),
        .init(name: "unalias", aliases: [], usage: "unalias NAME", summary: "forget a shortcut", words: [.alias], flags: []),
        .init(name: "source", aliases: ["."], usage: "source FILE", summary: "run the commands in a file", words: [.file], flags: []),
        .init(name: "describe", aliases: [], usage: "describe", summary: "the command schema as JSON (for clients)", words: [], flags: []),
        .init(name: "complete", aliases: [], usage: "complete <partial command line>", summary: "completions for the last word (for clients)", words: [.text], flags: []),
        .init(name: "shutdown", aliases: [], usage: "shutdown --confirm", summary: "stop the system and end the process (quit or Ctrl-D only detach)", words: [], flags: ["--confirm"]),
        .init(name: "quit", aliases: ["exit"], usage: "quit", summary: "detach this console (the server keeps running)", words: [], flags: []),
    ]

    /// Built-ins first, then each topic (one named like a built-in is left out).
    public let all: [CommandSpec]

    public init(topics: [ConsoleTopic]) {
        let taken = Set(Self.builtIn.flatMap { [$0.name] + $0.aliases })
        all = Self.builtIn + topics.filter { !taken.contains($0.name) }.map {
            CommandSpec(name: $0.name, aliases: [], usage: $0.usage, summary: $0.summary, words: [.subcommand, .text], flags: [], subcommands: $0.subcommands, runsBare: $0.runsBare)
        }
    }

    /// Whether `spec` is a component type's command rather than a built-in one.
    public func isTopic(_ spec: CommandSpec) -> Bool { !Self.builtIn.contains { $0.name == spec.name } }

    /// The command named `name` (or one of its aliases).
    public func spec(_ name: String) -> CommandSpec? {
        all.first { $0.name == name || $0.aliases.contains(name) }
    }

    /// Every name and alias.
    public var names: [String] { all.flatMap { [$0.name] + $0.aliases } }
}
