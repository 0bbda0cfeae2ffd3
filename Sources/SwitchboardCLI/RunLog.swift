import Foundation
import Logging
import Synchronization

/// Where `switchboard run` writes its log: the terminal, and with `--console` also a file.
///
/// With the console on the same terminal, log lines would break into the prompt: while it is
/// attached the terminal shows warnings and worse only, and every line at the chosen level
/// goes to the file (the console says where). Once the console detaches, the terminal shows
/// the chosen level again, so the stop order on Ctrl-C is in view.
final class RunLog: Sendable {
    let level: Logger.Level
    let file: FileHandle?
    let path: String?
    private let terminalLevel: Atomic<UInt8>
    private let lock = Mutex<Void>(())

    init(level: Logger.Level, file path: String?) {
        self.level = level
        self.path = path
        if let path {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            file = FileHandle(forWritingAtPath: path)
            file?.seekToEndOfFile()
        } else {
            file = nil
        }
        terminalLevel = Atomic(Self.rank(level))
    }

    /// The terminal shows `level` and worse from now on.
    func setTerminal(_ level: Logger.Level) { terminalLevel.store(Self.rank(level), ordering: .relaxed) }

    static func rank(_ l: Logger.Level) -> UInt8 { UInt8(Logger.Level.allCases.firstIndex(of: l) ?? 0) }

    func write(_ level: Logger.Level, _ line: String) {
        lock.withLock { _ in
            if let file { file.write(Data(line.utf8)) }
            if Self.rank(level) >= terminalLevel.load(ordering: .relaxed) {
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    func handler(label: String) -> Handler { Handler(label: label, log: self, logLevel: level) }

    /// One line per event, as swift-log's stream handler writes them.
    struct Handler: LogHandler {
        let label: String
        let log: RunLog
        var logLevel: Logger.Level
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let extra = event.metadata { all.merge(extra) { $1 } }
            let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let time = Date().formatted(.iso8601)
            log.write(event.level, "\(time) \(event.level) \(label):\(meta) [\(event.source)] \(event.message)\n")
        }
    }
}
