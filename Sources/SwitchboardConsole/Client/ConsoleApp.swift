import Foundation
import Switchboard

/// `switchboard console`: the interactive console (libedit) or, when stdin is not a
/// terminal or commands are given with `-c`, a script runner with one reply per command.
public struct ConsoleApp {
    /// What the command line asked for.
    public struct Options {
        public var socket: String
        public var commands: [String]
        public var json: Bool
        public var rcFile: String?
        public var forceInteractive: Bool

        public init(socket: String, commands: [String] = [], json: Bool = false, rcFile: String? = nil, forceInteractive: Bool = false) {
            self.socket = socket
            self.commands = commands
            self.json = json
            self.rcFile = rcFile
            self.forceInteractive = forceInteractive
        }
    }

    let options: Options

    /// Whether Ctrl-C was pressed since the last call (the console's SIGINT handler only
    /// records it).
    public static func takeInterrupt() -> Bool { LineEditor.takeInterrupt() }

    public init(_ options: Options) {
        self.options = options
    }

    /// Runs the console; returns the exit status (0 when every command succeeded).
    public func run() -> Int32 {
        let client: AdminClient
        do {
            client = try AdminClient(path: options.socket)
        } catch {
            LogOutput.write("\(error)\n", to: STDERR_FILENO)
            return 2
        }
        let interactive = options.commands.isEmpty && (options.forceInteractive || isatty(STDIN_FILENO) == 1)
        var failures = 0
        if let rc = options.rcFile {
            let reply = try? client.run(["source " + rc]) { _ in }
            if reply?["ok"] != true {
                LogOutput.write("\(rc): \(reply?["text"]?.stringValue ?? "failed")\n", to: STDERR_FILENO)
            } else if interactive {
                print(reply?["text"]?.stringValue ?? "")
            }
        }
        if !options.commands.isEmpty {
            for command in options.commands where !runBatch(command.components(separatedBy: "\n"), client) { failures += 1 }
        } else if interactive {
            return interactiveLoop(client)
        } else {
            LineEditor.catchInterrupts()
            var pending: [String] = []
            var marker: String?
            while let line = readLine(strippingNewline: true) {
                pending.append(line)
                if let m = marker {
                    if line == m { marker = nil } else { continue }
                } else if let (_, m) = CommandLineParser.heredoc(line) {
                    marker = m
                    continue
                }
                if !runBatch(pending, client) { failures += 1 }
                pending = []
            }
            if !pending.isEmpty, !runBatch(pending, client) { failures += 1 }
        }
        return failures == 0 ? 0 : 1
    }

    /// One command, one reply on stdout; errors on stderr. Whether it succeeded.
    private func runBatch(_ lines: [String], _ client: AdminClient) -> Bool {
        guard let first = lines.first, !first.trimmingSpaces().isEmpty, !first.trimmingSpaces().hasPrefix("#") else { return true }
        do {
            let reply = try client.run(lines, interrupted: LineEditor.takeInterrupt) { event in
                if options.json { print(event.jsonText) } else if let t = event["text"]?.stringValue { print(t) }
                fflush(nil)
            }
            guard let reply else {
                LogOutput.write("the server closed the connection\n", to: STDERR_FILENO)
                return false
            }
            let ok = reply["ok"] == true
            if options.json {
                print(reply.jsonText)
            } else if let text = reply["text"]?.stringValue, !text.isEmpty {
                if ok { print(text) } else { LogOutput.write("error: \(text)\n", to: STDERR_FILENO) }
            }
            fflush(nil)
            return ok
        } catch {
            LogOutput.write("\(error)\n", to: STDERR_FILENO)
            return false
        }
    }

    private func interactiveLoop(_ client: AdminClient) -> Int32 {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSTemporaryDirectory()
        guard let editor = LineEditor(program: "switchboard", historyPath: home + "/.switchboard_history") else {
            LogOutput.write("cannot start the line editor\n", to: STDERR_FILENO)
            return 2
        }
        // `chat@web-1:8081`: which instance of the system this console is attached to.
        let name = (client.hello["system"]?.stringValue ?? "switchboard") + (client.hello["instance"]?.stringValue.map { "@\($0)" } ?? "")
        var state = client.hello["state"]?.stringValue ?? "?"
        editor.complete = { line in
            if let files = SourceFile.complete(line) { return files }
            return (try? client.run(["complete " + line]) { _ in })?["data"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        print("attached to \(name) (\(state)); help lists the commands, Tab completes, Ctrl-C cancels, Ctrl-D detaches")
        while true {
            switch editor.read(prompt: "\(name)(\(state))> ") {
            case .end:
                print("\ndetached; the server keeps running")
                return 0
            case .interrupted:
                print("^C")
                continue
            case .line(let line):
                let trimmed = line.trimmingSpaces()
                if trimmed.isEmpty { continue }
                var lines = [line]
                if let (_, marker) = CommandLineParser.heredoc(line) {
                    heredoc: while true {
                        switch editor.read(prompt: "… ") {
                        case .line(let next):
                            lines.append(next)
                            if next == marker { break heredoc }
                        case .interrupted, .end:
                            lines = []
                            break heredoc
                        }
                    }
                    if lines.isEmpty { print("^C"); continue }
                }
                editor.remember(lines.joined(separator: "\n"))
                do {
                    let reply = try client.run(lines, interrupted: LineEditor.takeInterrupt) { event in
                        if let t = event["text"]?.stringValue { print(t) }
                        fflush(nil)
                    }
                    guard let reply else {
                        print("the server closed the connection")
                        return trimmed == "quit" || trimmed == "exit" ? 0 : 1
                    }
                    if let text = reply["text"]?.stringValue, !text.isEmpty {
                        print(reply["ok"] == true ? text : "error: \(text)")
                    }
                    if let s = reply["state"]?.stringValue { state = s }
                    if reply["command"] == "quit" { return 0 }
                } catch {
                    print("\(error)")
                    return 1
                }
            }
        }
    }
}
