import Foundation
import Logging
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
    private let file = Mutex<FileHandle?>(nil)
    private let terminalLevel: Atomic<UInt8>

    init(level: Logger.Level, format: LogFormat = .text) {
        self.level = level
        self.format = format
        terminalLevel = Atomic(Self.rank(level))
    }

    /// From now on every line also goes to `path` (appended; created if missing) and the
    /// terminal shows warnings and worse. False, changing nothing, when it cannot be opened.
    func divert(to path: String) -> Bool {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { return false }
        handle.seekToEndOfFile()
        file.withLock { $0 = handle }
        terminalLevel.store(Self.rank(max(level, .warning)), ordering: .relaxed)
        return true
    }

    /// The terminal shows the chosen level again.
    func restoreTerminal() { terminalLevel.store(Self.rank(level), ordering: .relaxed) }

    static func rank(_ l: Logger.Level) -> UInt8 { UInt8(Logger.Level.allCases.firstIndex(of: l) ?? 0) }

    func write(_ level: Logger.Level, _ line: String) {
        file.withLock { file in
            file?.write(Data(line.utf8))
            if Self.rank(level) >= terminalLevel.load(ordering: .relaxed) {
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    func handler(label: String) -> LineLogHandler {
        LineLogHandler(label: label, format: format, logLevel: level) { [self] level, line in write(level, line) }
    }
}
