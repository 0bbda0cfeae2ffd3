import Foundation
import Switchboard

/// The PostgreSQL server of a test run: `dev/test.sh` starts a private one and passes its URL
/// in `SWITCHBOARD_TEST_POSTGRES_URL`. A test that needs it fails (never skips) without it.
public enum TestPostgres {
    /// The variable `dev/test.sh` sets.
    public static let variable = "SWITCHBOARD_TEST_POSTGRES_URL"

    /// The server's URL; throws when the run has none.
    public static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment[variable], !url.isEmpty else { throw Missing() }
        return url
    }

    /// A name no other test uses, for a table or a bus (`t_1a2b3c…`).
    public static func uniqueName(_ prefix: String = "t") -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    }

    /// The test run has no PostgreSQL server.
    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "\(TestPostgres.variable) is not set: run the tests with dev/test.sh, which starts a private PostgreSQL server"
        }
    }

    /// `dev/postgres.sh` of this checkout (for tests that stop and start a server of their own).
    public static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("dev/postgres.sh").path
    }
}

/// A PostgreSQL server of one test's own (for a test that stops and starts it), through
/// `dev/postgres.sh`: a data directory under /tmp, a free port, fsync off.
public final class PrivatePostgres: Sendable {
    /// The data directory.
    public let directory: String
    /// The server's URL.
    public let url: String

    /// Makes and starts a server.
    public static func start() async throws -> PrivatePostgres {
        let dir = "/tmp/switchboard-pg-" + UUID().uuidString.prefix(8).lowercased()
        let url = try await run("start", dir)
        return PrivatePostgres(directory: dir, url: url)
    }

    /// Runs `body` with a server of its own, stopped and removed once `body` is over (returned or
    /// thrown) and before this returns: a `defer { Task { … } }` does not finish before a test
    /// run that ends right after exits, and leaves the server running.
    public static func with<T>(_ body: (PrivatePostgres) async throws -> T) async throws -> T {
        let pg = try await start()
        do {
            let result = try await body(pg)
            await pg.remove()
            return result
        } catch {
            await pg.remove()
            throw error
        }
    }

    private init(directory: String, url: String) {
        self.directory = directory
        self.url = url
    }

    /// Stops the server (`-m fast`: open connections are cut).
    public func stop() async throws { _ = try await Self.run("stop", directory) }

    /// Starts it again on the same port.
    public func restart() async throws { _ = try await Self.run("start", directory) }

    /// Stops the server and removes its directory.
    public func remove() async {
        try? await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs the script with its output in a file: the server it starts keeps inherited pipes
    /// open, so a pipe would not see its end.
    private static func run(_ command: String, _ dir: String) async throws -> String {
        let out = NSTemporaryDirectory() + "switchboard-pg-out-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestPostgres.script)
        p.arguments = [command, dir]
        p.environment = ProcessInfo.processInfo.environment.merging(["SWITCHBOARD_PG_FAST": "1"]) { $1 }
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        let exited = Latch<Int32>()
        p.terminationHandler = { _ = exited.resolve(.success($0.terminationStatus)) }
        do { try p.run() } catch { _ = exited.resolve(.success(-1)) }
        // Foundation can miss a child's exit when several end at once (seen under a full test
        // run: the script had printed its last line, its handler never ran, the test hung).
        // So each second without the handler, the exit is looked for here too; pg_ctl gives up
        // after 60 s itself, and past 120 s the script is stuck: a test fails, not hangs.
        let pid = p.processIdentifier
        let started = ContinuousClock.now
        var status: Int32?
        while status == nil, ContinuousClock.now - started < .seconds(120) {
            status = await withDeadline(.seconds(1)) { (try? await exited.wait()) ?? -1 }
            var raw: Int32 = 0
            if status == nil, pid > 0, waitpid(pid, &raw, WNOHANG) == pid {
                // WIFEXITED / WEXITSTATUS, spelled out: the macros are not imported.
                status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            }
        }
        try? handle.close()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard let status else {
            p.terminate()
            throw ScriptFailed(command: command, output: text + "\n(still running after 120 s)")
        }
        guard status == 0 else { throw ScriptFailed(command: command, output: text) }
        return text.split(separator: "\n").last.map(String.init) ?? ""
    }

    struct ScriptFailed: Error, CustomStringConvertible {
        let command: String
        let output: String
        var description: String { "dev/postgres.sh \(command) failed: \(output)" }
    }
}
