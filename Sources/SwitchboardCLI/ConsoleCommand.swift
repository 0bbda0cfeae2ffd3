import ArgumentParser
import Foundation
import Switchboard
import SwitchboardConsole

/// `switchboard console`: attach to a running system.
struct ConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Attach an operator console to a running `switchboard run` (Ctrl-D detaches).",
        discussion: "Without --socket the socket is found from ./system.json (its admin.socket, default .switchboard/admin.sock next to it)."
    )

    @Option(help: "The admin socket.")
    var socket: String?

    @Option(help: "The system file whose admin socket to use.")
    var system = "system.json"

    @Option(name: .shortAndLong, help: "Run this command and exit (repeatable); no prompt.")
    var command: [String] = []

    @Flag(help: "Print replies as JSON (one object per line).")
    var json = false

    @Flag(name: .customLong("no-rc"), help: "Do not load dev/console.rc on attach.")
    var noRC = false

    @Option(help: "A file of console commands to run on attach (default dev/console.rc if present).")
    var rc: String?

    func run() throws {
        let path = socket ?? Self.socketPath(system: system)
        let rcFile = noRC ? nil : (rc.map { URL(fileURLWithPath: $0).standardized.path } ?? Self.defaultRC())
        let status = ConsoleApp(.init(socket: path, commands: command, json: json, rcFile: rcFile)).run()
        if status != 0 { throw ExitCode(status) }
    }

    /// The admin socket named by `system` (or the default next to it).
    static func socketPath(system: String) -> String {
        let fallback = ".switchboard/admin.sock"
        guard let data = FileManager.default.contents(atPath: system),
              let doc = try? JSONParser.parse(Array(data)).value,
              case .string(let path)? = doc["admin"]?["socket"]
        else {
            let exists = FileManager.default.fileExists(atPath: system)
            return AdminConfig.resolve(fallback, relativeTo: exists ? system : nil)
        }
        return AdminConfig.resolve(path, relativeTo: system)
    }

    /// `dev/console.rc` in the working directory, if it exists.
    static func defaultRC() -> String? {
        let path = FileManager.default.currentDirectoryPath + "/dev/console.rc"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}
