import Foundation
import Logging
import Switchboard
import Synchronization

/// Where `switchboard run --console` writes its log: the terminal, and once the console is
/// on that terminal, also a file.
///
/// Log lines would break into the console's prompt: while it is attached the terminal shows
/// warnings and worse only, and every line at the chosen level goes to `run.log` beside the
/// console socket (the console says where). Once the console detaches, the terminal shows the
/// chosen level again, so the stop order on Ctrl-C is in view.
final class RunLog: Sendable {
    let level: Logger.Level
    let format: LogFormat
    /// The log file's descriptor once the log is diverted.
    private let file = Mutex<Int32?>(nil)
    private let terminalLevel: Atomic<UInt8>

    init(level: Logger.Level, format: LogFormat = .text) {
        self.level = level
        self.format = format
        terminalLevel = Atomic(Self.rank(level))
    }

    /// From now on every line also goes to `path` (appended; created if missing) and the
    /// terminal shows warnings and worse. False, changing nothing, when it cannot be opened.
    func divert(to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        file.withLock { old in
            if let old { close(old) }
            old = fd
        }
        terminalLevel.store(Self.rank(max(level, .warning)), ordering: .relaxed)
        return true
    }

    /// The terminal shows the chosen level again.
    func restoreTerminal() { terminalLevel.store(Self.rank(level), ordering: .relaxed) }

    static func rank(_ l: Logger.Level) -> UInt8 { UInt8(Logger.Level.allCases.firstIndex(of: l) ?? 0) }

    func write(_ level: Logger.Level, _ line: String) {
        file.withLock { file in
            if let file { LogOutput.write(line, to: file) }
            if Self.rank(level) >= terminalLevel.load(ordering: .relaxed) {
                LogOutput.write(line, to: STDERR_FILENO)
            }
        }
    }

    func handler(label: String) -> LineLogHandler {
        LineLogHandler(label: label, format: format, logLevel: level) { [self] level, line in write(level, line) }
    }
}
