import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import Synchronization
import Testing

/// A test double for a channel: it keeps what is put on it.
final class RecordingSink: MessageSink {
    let received = Mutex<[Message]>([])

    func start() async throws {}
    func stop() async throws {}
    func put(_ message: Message, timeout: Duration) async -> PutOutcome {
        received.withLock { $0.append(message) }
        return .accepted
    }
}

/// `SystemHarness` on the repository's own system file, as a user's test would use it.
@Suite struct SystemHarnessTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theRootSystemStartsOnFreePortsWithURLsAndAConsole() async throws {
        let dir = try temporaryDirectory()
        // The dev profile's database goes to a temporary directory (a variable would be the
        // usual way; the root system keeps its path written out).
        let text = try String(contentsOf: Self.root.appendingPathComponent("system.json"), encoding: .utf8)
        let system = try await SystemHarness.start(text: text, source: dir + "/system.json", profiles: ["dev"])
        defer { Task { await system.stop() } }
        let publish = try await system.url("publish")
        #expect(publish.hasPrefix("http://127.0.0.1:") && publish.hasSuffix("/messages") && !publish.contains(":8080"))
        #expect(try await system.url("events", query: "room=lobby").hasSuffix("/events?room=lobby"))
        #expect(try await system.url("metrics").hasSuffix("/metrics"))

        var request = HTTPClientRequest(url: publish)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"from": "ann", "text": "hello from a harness"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 202)

        // The console, in process: the dev profile's access log is on, the message is stored.
        let status = await system.console("status")
        #expect(status.ok && status.text.contains("running"))
        let config = await system.console("config http")
        #expect(config.data["accessLog"] == true)
        let history = await system.console("history -n 5")
        #expect(history.ok && history.text.contains("hello from a harness"))
        #expect(await system.console("nonsense").ok == false)
    }

    /// A module's servers get free ports too (the harness patches the expanded components).
    @Test func theChatModuleSystemStartsOnFreePorts() async throws {
        let dir = try temporaryDirectory()
        let text = try String(contentsOf: Self.root.appendingPathComponent("dev/systems/chat-module.json"), encoding: .utf8)
        let system = try await SystemHarness.start(text: text, source: dir + "/system.json")
        defer { Task { await system.stop() } }
        let page = try await system.url("chat.page")
        #expect(!page.contains(":8080") && !page.contains(":9090"))
        #expect(try await HTTPClient.shared.execute(HTTPClientRequest(url: page), timeout: .seconds(10)).status.code == 200)
        #expect(try await system.url("chat.metrics").hasSuffix("/metrics"))
    }

    @Test func anOverrideStandsInForAComponentAndWhatUsesItGetsTheDouble() async throws {
        let sink = RecordingSink()
        let system = try await SystemHarness.start(text: #"""
            {"vars": {"secret": {"type": "secret", "env": "NOT_SET_ANYWHERE"}},
             "components": {
              "inbox": {"type": "channel", "buffer": {"$var": "secret"}},
              "http": {"type": "http-server", "port": 8080},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}}
            }}
            """#, overrides: ["inbox": sink])
        defer { Task { await system.stop() } }
        // The double's fields are not read: the variable they use needs no value.
        var request = HTTPClientRequest(url: try await system.url("publish"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/plain")
        request.body = .bytes(ByteBuffer(string: "recorded"))
        #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(30)).status.code == 202)
        #expect(sink.received.withLock { $0.map(\.text) } == ["recorded"])
        #expect(try await system.component("inbox", as: RecordingSink.self) === sink)
        // A name that is not a component, or a double of the wrong kind, is a config error.
        await #expect(throws: ConfigErrors.self) {
            try await SystemHarness.start(text: #"{"components": {"inbox": {"type": "channel"}}}"#, overrides: ["inbxo": sink])
        }
        await #expect(throws: ConfigErrors.self) {
            try await SystemHarness.start(text: #"{"components": {"inbox": {"type": "channel"}, "fanout": {"type": "mult", "using": {"source": "inbox"}}}}"#,
                                          overrides: ["inbox": sink])
        }
    }
}

/// The health endpoint's `checks` slot: readiness looks only at the components it names.
@Suite struct HealthChecksTests {
    @Test func readinessLooksOnlyAtTheChecksRefset() async throws {
        let system = try await SystemHarness.start(text: #"""
            {"components": {
              "inbox": {"type": "channel"},
              "side": {"type": "channel"},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "ops": {"type": "http-server"},
              "all": {"type": "health", "using": {"server": "ops"}},
              "mults": {"type": "health", "live": "/m/healthz", "ready": "/m/readyz", "using": {"server": "ops", "checks": {"$all": "mult"}}}
            }}
            """#)
        defer { Task { await system.stop() } }
        func status(_ path: String) async throws -> UInt {
            let base = try await system.url("ops")
            return try await HTTPClient.shared.execute(HTTPClientRequest(url: base + path), timeout: .seconds(10)).status.code
        }
        #expect(try await status("/readyz") == 200)
        #expect(try await status("/m/readyz") == 200)
        _ = try await system.map.stop("side")
        #expect(try await status("/readyz") == 503)
        #expect(try await status("/m/readyz") == 200, "side is not a mult")
        let inspected = await system.console("inspect mults")
        #expect(inspected.data["figures"]?["checks"] == ["fanout"], "\(inspected.payload)")
    }
}

/// The built-in capabilities on the real registry: readiness over what can lose its database,
/// metrics for the message stores only.
@Suite struct CapabilityRefsetTests {
    @Test func healthAndMetricsTakeRefsetsByCapability() async throws {
        let dir = try temporaryDirectory()
        let system = try await SystemHarness.start(text: #"""
            {"components": {
              "inbox": {"type": "channel"},
              "side": {"type": "channel"},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "archive": {"type": "store", "path": "\#(dir)/a.sqlite", "using": {"source": "fanout"}},
              "ops": {"type": "http-server"},
              "ready": {"type": "health", "using": {"server": "ops", "checks": {"$all": "degradable"}}},
              "metrics": {"type": "metrics", "using": {"server": "ops", "sources": {"$all": "message-store"}}}
            }}
            """#)
        defer { Task { await system.stop() } }
        #expect(system.spec.component("ready")?.usingAll == ["checks": ["archive"]])
        let base = try await system.url("ops")
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(text.contains(#"component="archive""#), "\(text.prefix(2000))")
        #expect(!text.contains(#"component="fanout""#) && !text.contains(#"component="inbox""#), "\(text.prefix(2000))")
        // Readiness looks at the store only: a stopped channel does not make it 503.
        _ = try await system.map.stop("side")
        let ready = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(10))
        #expect(ready.status.code == 200)
    }
}


/// A component of a type of one's own, with figures.
final class Counting: Component {
    static let type = ComponentType("counting", summary: "Has figures.") { _ in Counting() }
    func start() async throws {}
    func stop() async throws {}
    func inspect() async -> JSONValue { ["ticks": 3, "label": "x", "ratio": 0.5, "nested": ["deep": 1]] }
}

/// What a component author gets without touching the console or the metrics code: the
/// top-level numbers of `inspect()` in `status` and on `/metrics`.
@Suite struct OwnFiguresTests {
    @Test func aTypeOfOnesOwnShowsItsNumbersInStatusAndMetrics() async throws {
        var registry = ComponentRegistry.standard
        registry.register(Counting.type)
        let system = try await SystemHarness.start(text: #"""
            {"components": {
              "c": {"type": "counting"},
              "ops": {"type": "http-server"},
              "metrics": {"type": "metrics", "using": {"server": "ops"}}
            }}
            """#, registry: registry)
        defer { Task { await system.stop() } }
        let status = await system.console("status")
        let row = status.text.split(separator: "\n").first { $0.hasPrefix("c ") }.map(String.init) ?? ""
        #expect(row.hasSuffix("ticks 3, ratio 0.5"), "\(status.text)")
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: try await system.url("ops") + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(text.contains(#"switchboard_component_figure{component="c",figure="ticks"} 3"#), "\(text.prefix(3000))")
        #expect(text.contains(#"switchboard_component_figure{component="c",figure="ratio"} 0.5"#))
        #expect(!text.contains(#"figure="label""#) && !text.contains(#"figure="nested""#))
    }

    /// A command a type brings, in a system without such a component, says what it needs.
    @Test func aCommandOfATypeTheSystemLacksNamesTheType() async throws {
        let system = try await SystemHarness.start(text: #"{"components": {"inbox": {"type": "channel"}}}"#)
        defer { Task { await system.stop() } }
        let who = await system.console("who")
        #expect(!who.ok)
        #expect(who.text == #""who" is answered by a component of type presence, and this system has none: add one to the system file"#, "\(who.text)")
        let typo = await system.console("whoo")
        #expect(typo.text.hasPrefix(#"unknown command "whoo""#))
    }
}
