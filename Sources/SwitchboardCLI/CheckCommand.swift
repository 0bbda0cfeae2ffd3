import ArgumentParser
import Foundation
import Switchboard

/// `switchboard check`: validate a system file and print its start order, or (`--show`) the
/// document as it will run.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate system.json and print the start order (exit 1 with every problem otherwise).",
        discussion: "With --show, print the document as run builds it instead: the profiles applied, the variables in place, secrets masked (and with --defaults every field a component reads at its default)."
    )

    @OptionGroup var system: SystemOptions

    @Flag(help: "Print the document as it will run (after profiles and variables; secrets masked).")
    var show = false

    @Flag(help: "With --show: fill in every field the components read that the document leaves out, at its default.")
    var defaults = false

    func run() async throws {
        let built = try await system.loadOrExit()
        let spec = built.spec
        if show || defaults {
            print(spec.shownDocument(defaults: defaults).prettyJSONText)
            return
        }
        let profiles = spec.profiles.isEmpty ? "" : " with profile\(spec.profiles.count == 1 ? "" : "s") \(spec.profiles.joined(separator: ", "))"
        let partial = system.only.isEmpty ? "" : " (--only: these and what they use)"
        print("\(system.file): system \"\(spec.name)\" is valid\(profiles): \(spec.components.count) components\(partial)")
        print("start order (each line starts concurrently, after the lines above it):")
        for (i, level) in (spec.graph.levels() ?? []).enumerated() {
            let names = level.map { "\($0) (\(spec.types[$0] ?? "?"))" }
            print("  \(i + 1). " + names.joined(separator: ", "))
        }
    }
}

/// `switchboard vars`: the variables a system file declares, their values and where they come
/// from.
struct VarsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vars",
        abstract: "List the variables of system.json: type, value (secrets masked), where the value comes from, and what each is for."
    )

    @OptionGroup var system: SystemOptions

    func run() async throws {
        let loader = try await system.loader()
        let found: (variables: SystemVariables, issues: [ConfigIssue])
        do {
            found = try loader.variables(file: system.file)
        } catch {
            LogOutput.write("\(system.file): \(error.description)\n", to: STDERR_FILENO)
            throw ExitCode(1)
        }
        let all = found.variables.all
        if all.isEmpty { print("\(system.file) declares no variables") }
        let rows = [["name", "type", "value", "from", "doc"]] + all.map { v in
            let from = v.problem.map { "\(v.source): \($0)" } ?? (v.source == .none ? "unset" : v.source.description)
            return [v.name, v.kind.rawValue, v.shown, from, v.doc ?? ""]
        }
        if !all.isEmpty {
            let widths = (0..<4).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for row in rows {
                let padded = (0..<4).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                print((padded + [row[4]]).joined(separator: "  ").trimmingSpaces())
            }
        }
        for issue in found.issues { LogOutput.write("\(system.file): \(issue)\n", to: STDERR_FILENO) }
        if !found.issues.isEmpty || all.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
    }
}
