import Logging
import Switchboard

/// What the admin server acts on: the running map, and the process-level operations the
/// map itself does not own.
public struct AdminHost: Sendable {
    /// The outcome of a reload, as the console shows it.
    public struct ReloadAnswer: Sendable {
        public var ok: Bool
        public var text: String
        public var data: JSONValue
        public init(ok: Bool, text: String, data: JSONValue = .null) {
            self.ok = ok
            self.text = text
            self.data = data
        }
    }

    /// The running system.
    public let map: SystemMap
    /// Re-reads the system file and applies it (or only plans it, when dry).
    public var reload: @Sendable (_ dryRun: Bool) async -> ReloadAnswer
    /// Stops the system and ends the process.
    public var shutdown: @Sendable () async -> Void
    /// Where commands are logged.
    public var logger: Logger
    /// The types the system could use: a command that a type brings (`who`: `presence`) but no
    /// component of this system has is answered with the type it needs.
    public var registry: ComponentRegistry?

    /// A host over `map`.
    public init(
        map: SystemMap, logger: Logger,
        reload: @escaping @Sendable (_ dryRun: Bool) async -> ReloadAnswer = { _ in .init(ok: false, text: "reload is not available") },
        shutdown: @escaping @Sendable () async -> Void
    ) {
        self.map = map
        self.logger = logger
        self.reload = reload
        self.shutdown = shutdown
    }
}

/// A console command failed: the reason (for scripts) and the message (for people).
struct ConsoleError: Error {
    /// Why a command failed: the `reason` of its reply, for scripts to branch on.
    enum Reason: String, Sendable {
        case usage, badInput, unknownCommand, unknownComponent, unknownAlias, wrongKind
        case notRunning, notStored, wouldBlock, reloadFailed, startFailed, forbidden, failed
    }

    let reason: Reason
    let message: String

    static func usage(_ spec: CommandSpec) -> ConsoleError {
        ConsoleError(reason: .usage, message: "usage: \(spec.usage)")
    }
}

/// Ends a command early: the console detaches, or the process shuts down.
enum SessionEnd: Sendable {
    case detach
}
