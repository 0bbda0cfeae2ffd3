import ArgumentParser
import Configuration
import Foundation
import Logging
import Switchboard

/// What names the system a command works on, shared by `run`, `check`, `graph`, `token` and
/// `vars`: the file, the profiles applied to it and the values given to its variables.
struct SystemOptions: ParsableArguments {
    @Argument(help: "The system file.")
    var file = "system.json"

    @Option(name: .customLong("profile"), help: ArgumentHelp("Profiles of the file to apply, in order (comma-separated or repeated): --profile dev,local.", valueName: "names"))
    var profiles: [String] = []

    @Option(name: .customLong("set"), help: ArgumentHelp("A variable's value, ahead of its environment variable and its default (repeatable): --set port=9000.", valueName: "name=value"))
    var settings: [String] = []

    @Option(name: .customLong("only"), help: ArgumentHelp("Only these components and what they depend on (comma-separated or repeated): --only publish,events.", valueName: "names"))
    var only: [String] = []

    @Option(name: .customLong("env-file"), help: ArgumentHelp("A file of NAME=value lines (# comments) read after the environment: a name the environment has wins.", valueName: "path"))
    var envFile: String?

    /// The profile names, in order.
    var profileNames: [String] {
        profiles.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }

    /// The `--set` values by name; a malformed one (no `=`, no name) or a name given twice is a
    /// usage error naming it.
    func values() throws -> [String: String] {
        var out: [String: String] = [:]
        for item in settings {
            guard let eq = item.firstIndex(of: "="), case let name = item[..<eq].trimmingSpaces(), !name.isEmpty else {
                throw ValidationError("--set \(item): expected name=value")
            }
            guard out[name] == nil else { throw ValidationError("--set \(name) is given twice") }
            out[name] = String(item[item.index(after: eq)...])
        }
        return out
    }

    /// A loader of the standard registry with these profiles, values and environment file.
    func loader() async throws -> SystemLoader {
        var loader = SystemLoader(registry: SwitchboardCLI.registry, logger: Logger(label: "switchboard"))
        if let envFile {
            // swift-configuration reads the file (dotenv syntax); our loader asks it for each
            // name the environment does not have.
            let provider: EnvironmentVariablesProvider
            do {
                provider = try await EnvironmentVariablesProvider(environmentFilePath: .init(envFile))
            } catch {
                throw ValidationError("--env-file \(envFile): \(error)")
            }
            let file = Configuration.ConfigReader(provider: provider)
            loader.environmentFile = { name in file.string(forKey: ConfigKey([name])).map(Self.unquoted) }
        }
        loader.profiles = profileNames
        loader.settings = try values()
        loader.only = only.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        return loader
    }

    /// A value without one pair of surrounding quotes (`"…"` or `'…'`), as dotenv files write
    /// them: swift-configuration's parser keeps them.
    static func unquoted(_ value: String) -> String {
        guard value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first else { return value }
        return String(value.dropFirst().dropLast())
    }

    /// Loads the file, or prints every problem and exits 1.
    func loadOrExit() async throws -> BuiltSystem {
        try loadOrExit(with: try await loader())
    }

    /// Loads the file with `loader`, or prints every problem and exits 1.
    func loadOrExit(with loader: SystemLoader) throws -> BuiltSystem {
        do {
            return try loader.load(file: file)
        } catch {
            LogOutput.write("\(file): \(error.description)\n", to: STDERR_FILENO)
            throw ExitCode(1)
        }
    }
}
