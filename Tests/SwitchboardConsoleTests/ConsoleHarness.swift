import Foundation
import Logging
import Switchboard
import SwitchboardChannels
import SwitchboardConsole
import SwitchboardTesting
import SwitchboardWeb
import Synchronization
import Testing

/// A running system with its admin socket, and blocking console clients run off the
/// cooperative pool.
struct ConsoleHarness {
    let map: SystemMap
    let server: AdminServer
    let dir: String
    let shutdowns: Counter

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    static let system = #"""
        {"name": "demo", "components": {
          "inbox": {"type": "channel", "buffer": 2, "transforms": ["emoticons"]},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "side": {"type": "channel", "buffer": 4},
          "http": {"type": "http-server", "port": 0},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}}
        }}
        """#

    static func start(_ json: String = system, idleTimeout: Duration = .seconds(60), allow: Bool = true) async throws -> ConsoleHarness {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        registry.register(WebComponents.types)
        let dir = try temporaryDirectory()
        let built = try SystemLoader(registry: registry, environment: [:], logger: .tests).load(text: json)
        let map = SystemMap(built, logger: .tests)
        try await map.start()
        let shutdowns = Counter()
        var config = AdminConfig(nil)
        config.socketPath = dir + "/admin/admin.sock"
        config.idleTimeout = idleTimeout
        let host = AdminHost(map: map, logger: .tests,
                             reload: { dry in .init(ok: true, text: dry ? "plan: nothing to do" : "reloaded") },
                             shutdown: { shutdowns.value.add(1, ordering: .relaxed) })
        let server = AdminServer(config: config, host: host)
        try await server.start()
        return ConsoleHarness(map: map, server: server, dir: dir, shutdowns: shutdowns)
    }

    func stop() async {
        await server.stop()
        await map.stop()
    }

    /// Runs blocking client code on a thread of its own.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            Thread { c.resume(with: Result { try body() }) }.start()
        }
    }

    /// One command through a fresh connection: the reply and the events before it.
    func command(_ lines: [String]) async throws -> (reply: JSONValue, events: [JSONValue]) {
        let path = server.socketPath
        return try await Self.offPool {
            let client = try AdminClient(path: path)
            var events: [JSONValue] = []
            let reply = try client.run(lines) { events.append($0) }
            return (reply ?? .null, events)
        }
    }

    func command(_ line: String) async throws -> JSONValue {
        try await command([line]).reply
    }
}
