import Foundation
import Switchboard
import SwitchboardStore
import SwitchboardTesting
import Testing

/// One console for the cluster: `@all` and `@INSTANCE` from the console of one instance run on
/// the others through the bus's database (three instances, the test run's PostgreSQL).
@Suite(.timeLimit(.minutes(3))) struct ClusterConsoleTests {
    static func system(url: String, bus: String, instance: String) -> String {
        ClusterTests.system(url: url, bus: bus, instance: instance, commitTimeout: "30s")
            .replacingOccurrences(of: #""heartbeat": "1s""#, with: #""heartbeat": "5s", "console": true"#)
    }

    static func start(_ n: Int, url: String, bus: String) async throws -> [SystemHarness] {
        var all: [SystemHarness] = []
        for i in 1...n {
            all.append(try await SystemHarness.start(text: system(url: url, bus: bus, instance: "node-\(i)"), freePorts: false,
                                                     registry: WebHarness.registry, environment: [:]))
        }
        let bus = try await all[0].component("bus", as: BusComponent.self)
        try await waitUntil("every instance's heartbeat") { try await bus.consoleInstances().count == n }
        return all
    }

    /// The lines of `text` that `instance` answered.
    static func lines(_ text: String, of instance: String) -> [String] {
        text.split(separator: "\n").filter { $0.hasPrefix("[\(instance)] ") }.map { String($0.dropFirst(instance.count + 3)) }
    }

    @Test func allAndOneInstanceCommandsAnswerInstanceByInstance() async throws {
        let url = try TestPostgres.url()
        let bus = TestPostgres.uniqueName("bus")
        let nodes = try await Self.start(3, url: url, bus: bus)
        defer { Task { for n in nodes { await n.stop() } } }
        let console = nodes[0]

        let status = await console.console("@all status")
        #expect(status.ok, "\(status.text)")
        for name in ["node-1", "node-2", "node-3"] {
            #expect(Self.lines(status.text, of: name).contains { $0.contains("bus") && $0.contains("running") }, "\(status.text)")
        }
        #expect(status.data.arrayValue?.compactMap { $0["instance"]?.stringValue } == ["node-1", "node-2", "node-3"])

        let inspect = await console.console("@node-2 inspect bus")
        #expect(inspect.ok, "\(inspect.text)")
        #expect(inspect.text.split(separator: "\n").allSatisfy { $0.hasPrefix("[node-2] ") })
        #expect(inspect.text.contains("node-2"))

        // put! on every instance: each puts one, and every instance's subscribers get all three.
        let reader = try await SSEReader(try await nodes[2].url("events"))
        let put = await console.console(#"@all put! inbox {"text": "hi from the console"}"#)
        #expect(put.ok, "\(put.text)")
        let got = try await ClusterTests.read(3, from: reader)
        #expect(PublishFunctionTests.texts(got) == Array(repeating: "hi from the console", count: 3))

        // tail streams each instance's lines, marked with its name.
        async let tail = console.console("@all tail fanout -n 1")
        // Once every instance's tail has its tap on the mult, one message reaches all three.
        for node in nodes {
            try await waitUntil("the tail's tap") { try await node.map.inspect("fanout")["figures"]?["tapCount"]?.intValue == 1 }
        }
        _ = await nodes[1].console(#"put! inbox {"text": "tailed"}"#)
        let tailed = await tail
        #expect(tailed.ok, "\(tailed.text)")
        let events = tailed.events.compactMap { $0["text"]?.stringValue }
        for name in ["node-1", "node-2", "node-3"] {
            #expect(events.contains { $0.hasPrefix("[\(name)] ") && $0.contains("tailed") }, "\(events)")
        }

        // Tab completion offers the instances.
        #expect(await console.console("complete @no").text == "@node-1 @node-2 @node-3")
        #expect(await console.console("complete @node-2 inspect bu").text == "bus")

        // The bus's `cluster` lists each instance with its version and lag.
        let cluster = await console.console("cluster")
        #expect(cluster.text.contains("VERSION") && cluster.text.contains(Switchboard.version), "\(cluster.text)")

        // top shows the bus: what it wrote and read per second, and its lag.
        let top = await console.console("top -n 1")
        let busRow = top.events.first?["data"]?["bus"]
        for key in ["inPerSecond", "outPerSecond", "dropPerSecond", "lag"] { #expect(busRow?[key] != nil, "\(key): \(String(describing: busRow))") }

        let unknown = await console.console("@node-7 status")
        #expect(!unknown.ok && unknown.text.contains("no live instance node-7"), "\(unknown.text)")
    }

    @Test func aRollingReloadGoesOneInstanceAtATimeAndStopsAtTheFirstFailure() async throws {
        let url = try TestPostgres.url()
        let bus = TestPostgres.uniqueName("bus")
        let nodes = try await Self.start(3, url: url, bus: bus)
        defer { Task { for n in nodes { await n.stop() } } }

        let rolled = await nodes[2].console("@all reload")
        #expect(rolled.ok, "\(rolled.text)")
        #expect(rolled.events.compactMap { $0["text"]?.stringValue }.filter { $0.hasSuffix("reloaded") }
            == ["[node-1] reloaded", "[node-2] reloaded", "[node-3] reloaded"])
        #expect(rolled.text.contains("rolling reload done: 3 instances"))

        // node-2's file is broken: node-1 reloads, node-2 refuses, node-3 is left alone.
        nodes[1].replaceText("{ not json")
        let stopped = await nodes[0].console("@all reload")
        #expect(!stopped.ok)
        #expect(stopped.text.contains("rolling reload stopped at node-2; not reloaded: node-3"), "\(stopped.text)")
        #expect(Self.lines(stopped.text, of: "node-2").contains { $0.contains("not valid; nothing changed") }, "\(stopped.text)")
        #expect(Self.lines(stopped.text, of: "node-3").isEmpty)
    }

    @Test func anInstanceThatDoesNotAnswerIsNamedAndTheOthersAnswer() async throws {
        let url = try TestPostgres.url()
        let bus = TestPostgres.uniqueName("bus")
        let nodes = try await Self.start(2, url: url, bus: bus)
        defer { Task { for n in nodes { await n.stop() } } }
        // node-9's heartbeat is fresh, but no process is behind it (killed a moment ago).
        let db = try await nodes[0].component("db", as: PostgresComponent.self)
        _ = try await db.query("""
            INSERT INTO switchboard_instances (bus, name, pid, started, last_seen, subscribers, state)
            VALUES (\(bus), 'node-9', 1, now(), now(), 0, 'running')
            """)
        let started = ContinuousClock.now
        let status = await nodes[0].console("@all status")
        #expect(!status.ok)
        #expect(!Self.lines(status.text, of: "node-1").isEmpty && !Self.lines(status.text, of: "node-2").isEmpty, "\(status.text)")
        #expect(Self.lines(status.text, of: "node-9") == ["no answer from node-9 within 6.0s (is it running, with \"console\": true on its bus?)"], "\(status.text)")
        #expect(status.text.hasSuffix("failed on node-9"))
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func withoutConsoleOnTheBusTheCommandIsRefusedSayingHow() async throws {
        let url = try TestPostgres.url()
        let node = try await SystemHarness.start(text: ClusterTests.system(url: url, bus: TestPostgres.uniqueName("bus"), instance: "node-1"),
                                                 freePorts: false, registry: WebHarness.registry, environment: [:])
        defer { Task { await node.stop() } }
        let r = await node.console("@all status")
        #expect(!r.ok && r.text.contains("set \"console\": true on it"), "\(r.text)")
    }
}
