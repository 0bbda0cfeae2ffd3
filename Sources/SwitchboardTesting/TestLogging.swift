import Foundation
import Logging

extension Logger {
    /// The logger for systems that tests start: `warning` and above, so that the test summary
    /// and real failures stand out. `SWITCHBOARD_TEST_LOG=debug` (or `info`, …) shows more
    /// while you chase one test.
    public static var tests: Logger {
        var logger = Logger(label: "switchboard")
        logger.logLevel = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }

    /// For tests that make components fail on purpose: those errors are what the test
    /// asserts on, not news; only `critical` gets through (unless `SWITCHBOARD_TEST_LOG`).
    public static var expectingFailures: Logger {
        var logger = Logger.tests
        if ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_LOG"] == nil { logger.logLevel = .critical }
        return logger
    }
}
