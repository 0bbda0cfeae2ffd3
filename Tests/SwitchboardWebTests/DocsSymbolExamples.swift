import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardClient
import SwitchboardTesting
import SwitchboardWeb
import Testing

// The Swift blocks of the symbol documentation in Sources, compiled (DocsCodeBlocksTests holds
// each block to its copy here); those that need no files or servers also run.

/// The `ComponentType` example's component.
final class Ticker: Component {
    let interval: Duration
    init(interval: Duration) { self.interval = interval }
    func start() async throws {}
    func stop() async throws {}
}

/// `EndpointMount`'s example: an endpoint of one's own.
final class Echo: HTTPEndpoint {
    let mount: EndpointMount
    init(_ context: ComponentContext) { mount = EndpointMount(context) }
    func start() async throws {
        try mount.mount([HTTPRoute(.get, "/echo") { request, _ in .json(.ok, ["path": .string(request.uri.path)]) }])
    }
}

@Suite struct DocsSymbolExamples {
    @Test func componentTypeAndCapability() {
        let ticker = ComponentType("ticker", summary: "Counts seconds.") { context in
            Ticker(interval: context.config.duration("interval", default: .seconds(1)))
        }
        var registry = ComponentRegistry()
        registry.register(ticker)
        registry.register(capability: Capability("degradable", summary: "may run without what it needs", is: (any Degradable).self))
        #expect(registry.typeNames == ["ticker"] && registry.capabilityNames == ["degradable"])
    }

    @Test func moduleType() {
        var registry = ComponentRegistry()
        registry.register(module: ModuleType("pair", summary: "a channel and a mult over it") { m in
            [("inbox", ["type": "channel", "buffer": m.config.raw("buffer") ?? 64]),
             ("fanout", ["type": "mult", "using": ["source": .string(m.component("inbox"))]])]
        })
        #expect(registry.module(named: "pair") != nil)
    }

    func configReader(_ config: ConfigReader) {
        let size = config.int("size", default: 16, in: 0...1_000_000)
        let policy = config.oneOf("policy", ["fixed", "dropping", "sliding"], default: "fixed")
        _ = (size, policy)
    }

    /// Compiled only: it needs a system.json in the working directory.
    func systemMap(_ registry: ComponentRegistry) async throws {
        let system = try SystemLoader(registry: registry).load(file: "system.json")
        let map = SystemMap(system)
        try await map.start()
        // …
        let report = await map.stop()
        _ = report
    }

    @Test func transform() {
        let xf = Transform<Int, Int>.filter { $0.isMultiple(of: 2) }.then(.map { $0 * 10 }).then(.take(2))
        let tens = xf.apply(to: 1...10)   // [20, 40]
        #expect(tens == [20, 40])
    }

    @Test func chan() async {
        let chan = Chan<Int>(.fixed(16))
        Task { for i in 1...3 { await chan.send(i) }; chan.close() }
        var got: [Int] = []
        for await i in chan { got.append(i) }   // [1, 2, 3]
        #expect(got == [1, 2, 3])
    }

    @Test func mult() async {
        let source = Chan<String>(.fixed(64))
        let mult = Mult(source)
        let a = mult.tap(name: "a"), b = mult.tap(name: "b", policy: .dropOldest, capacity: 8)
        let pump = Task { await mult.run() }
        source.offer("hi")
        let first = await a.chan.receive(), second = await b.chan.receive()
        #expect(first == "hi" && second == "hi")
        pump.cancel()
    }

    @Test func pub() async {
        let source = Chan<Message>(.fixed(64))
        let pub = Pub(source) { (m: Message) in m.room }
        let lobby = pub.subscribe("lobby", name: "alice")
        #expect(lobby.chan.offer(Message(from: "bob", text: "hi", room: "lobby")) == .accepted)
    }

    /// Compiled only: it runs the repository's system.json from the working directory.
    func systemHarness() async throws {
        let system = try await SystemHarness.start(file: "system.json", profiles: ["dev"], overrides: ["inbox": RecordingSink()])
        defer { Task { await system.stop() } }
        let publish = try await system.url("publish")            // http://127.0.0.1:PORT/messages
        let status = await system.console("status")               // the console's answer, in process
        _ = (publish, status)
    }

    /// Compiled only: `SwitchboardClient`'s symbol documentation (a server is needed).
    func swiftClientSymbol() async throws {
        let client = SwitchboardClient(.init(url: "http://127.0.0.1:8080", room: "lobby", name: "ann"))
        client.start()
        Task { for await event in client.events { if case .message(let m) = event { print(m.from, m.text) } } }
        let ack = try await client.publish("hi")
        _ = ack
    }

    /// Compiled only: the Clients article's example.
    func swiftClientArticle() async throws {
        let client = SwitchboardClient(.init(url: "http://127.0.0.1:8080", room: "lobby", name: "ann"))
        client.start()
        Task {
            for await event in client.events {
                if case .message(let m) = event { print(m.from, m.text) }
            }
        }
        let ack = try await client.publish("hi")    // ack.id, ack.status ("accepted" or "stored")
        _ = ack
    }
}
