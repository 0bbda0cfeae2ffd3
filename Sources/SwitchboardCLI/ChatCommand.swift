import ArgumentParser
import Foundation
import Switchboard
import SwitchboardClient
import SwitchboardConsole

/// `switchboard chat`: a terminal chat client on the same line editor as the console, over
/// `SwitchboardClient` (reconnect, resume, acks).
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat from the terminal: messages as they come, a line to send (Ctrl-D leaves).",
        discussion: "`/msg NAME TEXT` sends to one person. Reconnects by itself and resumes where it was."
    )

    @Option(help: "The server's base URL.")
    var url = "http://127.0.0.1:8080"

    @Option(help: "One room (default: every room; what you send goes to the lobby).")
    var room: String?

    @Option(help: "Your name on an open server.")
    var name: String?

    @Option(help: "A token (with auth; it names you).")
    var token: String?

    func validate() throws {
        guard let u = URL(string: url), ["http", "https"].contains(u.scheme ?? ""), u.host != nil else {
            throw ValidationError("--url: expected http://host:port, found \(url)")
        }
        if token == nil, name?.isEmpty ?? true { throw ValidationError("say who you are: --name NAME (or --token on a server with auth)") }
    }

    func run() async throws {
        var source: (@Sendable () async throws -> String)?
        if let token = self.token { source = { @Sendable in token } }
        let client = SwitchboardClient(.init(url: url.hasSuffix("/") ? String(url.dropLast()) : url, room: room, name: name, token: source))
        client.start()
        let printer = Task {
            for await event in client.events {
                switch event {
                case .message(let m):
                    let whereTo = m.to.map { " → \($0)" } ?? (room == nil ? m.room.map { " #\($0)" } ?? "" : "")
                    Self.say("\(m.from)\(whereTo): \(m.text)")
                case .presence(let p):
                    if let who = p["user"]?.stringValue, let what = p["event"]?.stringValue { Self.say("* \(who) \(what == "join" ? "joined" : "left") \(p["room"]?.stringValue ?? "")") }
                case .status(let s):
                    Self.say(s == .live ? "(connected to \(url))" : "(\(s.rawValue)…)")
                case .gap:
                    Self.say("(some messages were missed; fetched from the history)")
                }
            }
        }
        // The line editor blocks: it reads on a thread of its own.
        let prompt = "\(room ?? "all")> "
        let lines = AsyncStream<String> { continuation in
            Thread {
                guard let editor = LineEditor(program: "switchboard-chat", historyPath: nil) else { return continuation.finish() }
                Self.reading.set(editor)
                defer { Self.reading.set(nil) }
                while true {
                    switch editor.read(prompt: prompt) {
                    case .line(let line):
                        editor.remember(line)
                        continuation.yield(line)
                    case .interrupted: continue
                    case .end: return continuation.finish()
                    }
                }
            }.start()
        }
        for await line in lines {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            var to: String?
            var body = text
            if text.hasPrefix("/msg ") {
                let parts = text.dropFirst(5).split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { Self.say("usage: /msg NAME TEXT"); continue }
                (to, body) = (String(parts[0]), String(parts[1]))
            }
            do {
                _ = try await client.publish(body, room: room, to: to)
            } catch {
                Self.say("not sent: \(error)")
            }
        }
        await client.close()
        printer.cancel()
        print("")
    }

    /// The line editor while it reads, so that a message printed meanwhile can draw the
    /// prompt and the half-typed line again below it.
    static let reading = Reading()

    /// The editor that reads, behind a lock (libedit's state is not for two threads at once:
    /// the refresh only redraws, under this lock, while the reader waits for a key).
    final class Reading: @unchecked Sendable {
        private let lock = NSLock()
        private var editor: LineEditor?
        func set(_ e: LineEditor?) { lock.withLock { editor = e } }
        func say(_ text: String) {
            lock.withLock {
                LogOutput.write("\r\u{1B}[2K" + text + "\n", to: STDOUT_FILENO)
                editor?.refresh()
            }
        }
    }

    /// A line above the prompt; the prompt and what is being typed are drawn again below it.
    static func say(_ text: String) { reading.say(text) }
}
