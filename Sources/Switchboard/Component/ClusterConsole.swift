import Synchronization

/// What an instance answers to a console command that came from another instance.
public struct RemoteConsoleReply: Sendable, Equatable {
    /// Whether the command succeeded.
    public var ok: Bool
    /// The reply as the console shows it.
    public var text: String

    /// A reply.
    public init(ok: Bool, text: String) {
        self.ok = ok
        self.text = text
    }
}

/// Runs a console command line from another instance (`origin`) on this one; `event` gets
/// each line a streaming command (`tail`) shows. The console library provides it; a process
/// hands it to its map with ``SystemMap/serveRemoteConsole(_:)``.
public typealias RemoteConsoleRunner = @Sendable (_ line: String, _ origin: String, _ event: @escaping @Sendable (String) async -> Void) async -> RemoteConsoleReply

/// A component that carries console commands between the instances of a system (the `bus`
/// with `"console": true`): the console's `@all` and `@INSTANCE` prefixes go through it.
public protocol ClusterConsoleCarrier: Component {
    /// This instance's name.
    var consoleInstanceName: String { get }

    /// The live instances, this one included, in a stable order (oldest first).
    func consoleInstances() async throws -> [String]

    /// Runs `line` on `instances` and returns each one's reply, in their order, once all have
    /// answered or `timeout` has passed (a silent one's reply says so, naming it). `event`
    /// gets each streamed line with the instance that sent it.
    func relay(_ line: String, to instances: [String], timeout: Duration,
               event: @escaping @Sendable (_ instance: String, _ line: String) async -> Void) async throws -> [(instance: String, reply: RemoteConsoleReply)]
}

extension Wiring {
    /// The console runner of this system's process, if it has a console.
    var remoteConsole: RemoteConsoleRunner? {
        get { consoleRunner.withLock { $0 } }
        set { consoleRunner.withLock { $0 = newValue } }
    }
}

extension SystemHandle {
    /// How this process runs a console command for another instance (nil without a console).
    public var remoteConsole: RemoteConsoleRunner? { wiring.remoteConsole }
}

extension SystemMap {
    /// Lets components that carry console commands between instances run them here.
    public nonisolated func serveRemoteConsole(_ runner: @escaping RemoteConsoleRunner) {
        wiring.remoteConsole = runner
    }
}
