import ArgumentParser
import Foundation
import Switchboard

/// `switchboard check`: validate a system file and print its start order.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate system.json and print the start order (exit 1 with every problem otherwise)."
    )

    @Argument(help: "The system file.")
    var file = "system.json"

    func run() throws {
        let system = try loadOrExit(file)
        let spec = system.spec
        print("\(file): system \"\(spec.name)\" is valid: \(spec.components.count) components")
        print("start order (each line starts concurrently, after the lines above it):")
        for (i, level) in (spec.graph.levels() ?? []).enumerated() {
            let names = level.map { "\($0) (\(spec.types[$0] ?? "?"))" }
            print("  \(i + 1). " + names.joined(separator: ", "))
        }
    }
}

/// Loads `file` with the standard registry, or prints every problem and exits 1.
func loadOrExit(_ file: String) throws -> BuiltSystem {
    do {
        return try SystemLoader(registry: SwitchboardCLI.registry).load(file: file)
    } catch {
        LogOutput.write("\(file): \(error.description)\n", to: STDERR_FILENO)
        throw ExitCode(1)
    }
}
