import ArgumentParser

/// The `switchboard` command: run, check, draw and attach to systems of components.
@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Run a system of components declared in system.json, and attach an operator console to it.",
        subcommands: [RunCommand.self, CheckCommand.self, GraphCommand.self],
        defaultSubcommand: nil
    )
}
