import ArgumentParser
import Switchboard

/// `switchboard graph`: print the dependency graph.
struct GraphCommand: AsyncParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case dot, mermaid, text
    }

    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the dependency graph of system.json (Graphviz dot, Mermaid, or text)."
    )

    @OptionGroup var system: SystemOptions

    @Option(help: "Output format: dot, mermaid or text.")
    var format: Format = .dot

    func run() async throws {
        let spec = try await system.loadOrExit().spec
        switch format {
        case .dot: print(spec.graph.dot(name: spec.name, types: spec.types), terminator: "")
        case .mermaid: print(spec.graph.mermaid(types: spec.types), terminator: "")
        case .text: print(spec.graph.text(types: spec.types), terminator: "")
        }
    }
}
