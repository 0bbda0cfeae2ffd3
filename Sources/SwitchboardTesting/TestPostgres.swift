import Foundation

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
