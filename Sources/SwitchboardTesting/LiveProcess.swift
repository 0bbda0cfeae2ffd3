import Foundation
import Switchboard
import Synchronization

/// A child process for live tests: started from a path, its output collected, with waits
/// on what it prints (never on a clock).
public final class LiveProcess: Sendable {
    private final class Shared: Sendable {
        let output = Mutex<(text: String, waiters: [(String, CheckedContinuation<Bool, Never>)])>(("", []))
        let exited = Mutex<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))
        /// The exit status once the process ended, and whether its output reached its end:
        /// the exit is reported when both have happened, so `text` is complete by then (a
        /// process's last lines can still be in the pipe when it is reaped).
        let ending = Mutex<(status: Int32?, eof: Bool, done: Bool)>((nil, false, false))

        func exitSeen(_ status: Int32) {
            if ending.withLock({ $0.status = status; return $0.eof }) { finish() }
        }

        func eofSeen() {
            if ending.withLock({ $0.eof = true; return $0.status != nil }) { finish() }
        }

        /// Reports the exit (once).
        func finish() {
            guard let status = ending.withLock({ e -> Int32? in
                guard !e.done, let s = e.status else { return nil }
                e.done = true
                return s
            }) else { return }
            let waiters = exited.withLock { e in
                e.status = status
                defer { e.waiters.removeAll() }
                return e.waiters
            }
            waiters.forEach { $0.resume(returning: status) }
            // Nothing more will be printed: wake waiters for text that never came.
            let stale = output.withLock { o in defer { o.waiters.removeAll() }; return o.waiters }
            stale.forEach { $0.1.resume(returning: false) }
        }
    }

    private let process: Process
    private let shared = Shared()

    /// Starts `executable` with `arguments` in `directory`; stdout and stderr are merged.
    public init(_ executable: String, _ arguments: [String], directory: String? = nil, environment: [String: String]? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { [shared] handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                shared.eofSeen()
                return
            }
            let ready = shared.output.withLock { o -> [CheckedContinuation<Bool, Never>] in
                o.text += String(decoding: data, as: UTF8.self)
                let text = o.text
                let (done, waiting) = (o.waiters.filter { text.contains($0.0) }, o.waiters.filter { !text.contains($0.0) })
                o.waiters = waiting
                return done.map(\.1)
            }
            ready.forEach { $0.resume(returning: true) }
        }
        process.terminationHandler = { [shared] p in
            shared.exitSeen(p.terminationStatus)
            // A child it left behind may hold the pipe open: report the exit after 2 s anyway.
            DispatchQueue.global().asyncAfter(deadline: .now() + 2) { shared.finish() }
        }
        try process.run()
    }

    /// Everything printed so far.
    public var text: String { shared.output.withLock { $0.text } }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Waits until the output contains `needle` (at most `limit`); whether it did.
    @discardableResult
    public func waitFor(_ needle: String, limit: Duration = .seconds(60)) async -> Bool {
        let found = await withDeadline(limit) { [shared] in
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now = shared.output.withLock { o -> Bool? in
                    if o.text.contains(needle) { return true }
                    if shared.exited.withLock({ $0.status != nil }) { return false }
                    o.waiters.append((needle, c))
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        }
        return found ?? false
    }

    /// Sends `signal` (e.g. `SIGTERM`).
    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the exit status (at most `limit`; `nil` if still running then).
    public func waitForExit(limit: Duration = .seconds(60)) async -> Int32? {
        await withDeadline(limit) { [shared] in
            await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
                let status = shared.exited.withLock { e -> Int32? in
                    if let s = e.status { return s }
                    e.waiters.append(c)
                    return nil
                }
                if let status { c.resume(returning: status) }
            }
        }
    }

    /// Kills the process if it still runs.
    public func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Where the built `switchboard` binary is: beside the test bundle, or `$SWITCHBOARD_BINARY`.
public func switchboardBinary() -> String {
    if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_BINARY"] { return path }
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = me.deletingLastPathComponent()
    // The test runner may live inside a bundle directory; climb until the binary shows up.
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("switchboard").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath + "/.build/debug/switchboard"
}

/// A fresh temporary directory for one test.
public func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "switchboard-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

extension LiveProcess {
    /// The address the http-server named `component` logs that it listens on (at info level),
    /// once it has.
    public func listeningURL(of component: String = "http", limit: Duration = .seconds(60)) async -> String? {
        let needle = "component=\(component) [SwitchboardWeb] listening on http://"
        guard await waitFor(needle, limit: limit), let range = text.range(of: needle) else { return nil }
        let rest = text[range.upperBound...].prefix { !$0.isWhitespace }
        return "http://" + rest
    }
}

/// The repository's root `system.json` with every listener on port 0, so that several tests
/// can run it at once; throws when a listener's port was not found to change.
public func rootSystemOnPortZero(_ root: URL) throws -> String {
    let original = try String(contentsOf: root.appendingPathComponent("system.json"), encoding: .utf8)
    var system = original
    // The chat's port is the variable `port` (8080 by default); the ops port is written out.
    for (port, written) in [("8080", #""port": { "$var": "port" }"#), ("9090", #""port": 9090"#)] {
        let changed = system.replacingOccurrences(of: written, with: "\"port\": 0")
        guard changed != system else { throw RootSystemChanged(port: port) }
        system = changed
    }
    return system
}

/// The root `system.json` no longer has a listener this test kit expects.
public struct RootSystemChanged: Error, CustomStringConvertible {
    public let port: String
    public var description: String { "the root system.json should have a listener on port \(port)" }
}
