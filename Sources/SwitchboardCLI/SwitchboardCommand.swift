import ArgumentParser
import Switchboard
import Synchronization

/// The `switchboard` command line, for the stock binary and for binaries that add their own
/// component types.
///
/// ```swift
/// // Sources/word-count-server/main.swift
/// import Switchboard
/// import SwitchboardCLI
/// import WordCount
///
/// // `word-count-server run system.json`, `… check --show`, `… console`: Switchboard's command
/// // line with the built-in types and this package's.
/// var registry = ComponentRegistry.standard
/// registry.register(WordCounter.type)
/// registry.register(module: CountedChat.type)
/// await SwitchboardCLI.main(registry: registry)
/// ```
public enum SwitchboardCLI {
    private static let current = Mutex(ComponentRegistry())

    /// The registry the commands load systems with.
    static var registry: ComponentRegistry { current.withLock { $0 } }

    /// Parses the command line and runs the command with `registry`'s component types.
    public static func main(registry: ComponentRegistry) async {
        current.withLock { $0 = registry }
        await SwitchboardCommand.main()
    }
}

/// The `switchboard` command: run, check, draw and attach to systems of components.
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Run a system of components declared in system.json, and attach an operator console to it.",
        subcommands: [RunCommand.self, ConsoleCommand.self, CheckCommand.self, VarsCommand.self, GraphCommand.self, TokenCommand.self, ChatCommand.self]
    )
}
