/// A console command a component type brings (`webhooks dead`, `webhooks redeliver …`):
/// declared with the type, listed by `help` and completed by Tab in any system that has a
/// component of the type, and answered by every such component (or the one named last).
public struct ConsoleTopic: Sendable, Equatable {
    /// The command's first word (`webhooks`).
    public let name: String
    /// How it is used, as `help` shows it.
    public let usage: String
    /// One line saying what it does.
    public let summary: String
    /// The words that may follow the name, for completion (`dead`, `redeliver`).
    public let subcommands: [String]
    /// Whether the command means something without arguments (`history`) or needs one
    /// (`webhooks dead`): without, a bare command is a usage error.
    public let runsBare: Bool

    public init(_ name: String, usage: String, summary: String, subcommands: [String] = [], runsBare: Bool = false) {
        self.name = name
        self.usage = usage
        self.summary = summary
        self.subcommands = subcommands
        self.runsBare = runsBare
    }
}

/// A component that answers the console command of its type's `ConsoleTopic`.
public protocol ConsoleCommands: Component {
    /// Runs `words` (after the command's name); returns human text and JSON.
    func console(_ words: [String]) async throws -> (text: String, data: JSONValue)
}

/// What a component's console command throws when it cannot do what was asked: the console
/// answers with the kind as its reason, and for `usage` the command's usage line too.
public struct ConsoleCommandError: Error, CustomStringConvertible {
    /// What was wrong with the command.
    public enum Kind: String, Sendable {
        /// Arguments the command does not take.
        case usage
        /// Arguments it takes, naming something that is not there.
        case badInput
        /// The component must be running for it.
        case notRunning
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
