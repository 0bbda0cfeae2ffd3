import Foundation

/// Another process holding an SQLite database's write lock (Python's sqlite3 in a child
/// process), for tests of what a store does when it cannot write.
public final class SQLiteLockHolder: Sendable {
    private let process: LiveProcess

    /// Starts the process and returns once it holds the lock of the database at `path`.
    public static func lock(_ path: String) async throws -> SQLiteLockHolder {
        let script = """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
            c.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            import time
            while True: time.sleep(3600)
            """
        let p = try LiveProcess("/usr/bin/python3", ["-c", script, path])
        guard await p.waitFor("locked", limit: .seconds(30)) else {
            p.terminate()
            throw LockFailed(output: p.text)
        }
        return SQLiteLockHolder(process: p)
    }

    private init(process: LiveProcess) { self.process = process }

    /// Ends the process (its lock goes with it).
    public func release() async {
        process.terminate()
        _ = await process.waitForExit(limit: .seconds(10))
    }

    struct LockFailed: Error, CustomStringConvertible {
        let output: String
        var description: String { "python3 could not lock the database: \(output)" }
    }
}
