import Foundation
import Logging
import Switchboard
import SwitchboardTesting
import SwitchboardChannels
import Testing

/// The guide's custom component and module (`ReadmeExample.swift`, `ReadmeModuleExample.swift`:
/// DocsCodeBlocksTests holds them to the blocks of "Writing components") work when wired in JSON
/// next to built-in types.
@Suite struct ReadmeExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theModuleExpandsAndRuns() async throws {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        registry.register(Ticker.type)
        registry.register(module: Ticking.type)
        let system = try SystemLoader(registry: registry, environment: [:], logger: .tests).load(text: #"""
            {"components": {"clock": {"type": "ticking", "interval": "5ms", "overrides": {"clock": {"text": "tock"}}}}}
            """#)
        #expect(system.spec.components.map(\.name) == ["clock.inbox", "clock.clock", "clock.fanout"])
        #expect(system.spec.component("clock.fanout")?.using == ["source": "clock.inbox"])
        let map = SystemMap(system, logger: .tests)
        try await map.start()
        let fanout = try #require(await map.instance(named: "clock.fanout") as? MultComponent)
        let tap = try fanout.tap(TapOptions(name: "test", policy: .block, capacity: 8))
        #expect(await tap.chan.receive()?.text.hasPrefix("tock") == true)
        await map.stop()
    }

    /// A reload plans over the expanded components: a module field that reaches one of them
    /// restarts that one (and what depends on it), the rest keep running.
    @Test func aReloadOfAModulePlansOverItsComponents() async throws {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        registry.register(Ticker.type)
        registry.register(module: Ticking.type)
        let loader = SystemLoader(registry: registry, environment: [:], logger: .tests)
        let map = SystemMap(try loader.load(text: #"{"components": {"clock": {"type": "ticking", "interval": "1h"}}}"#), logger: .tests)
        try await map.start()
        let changed = try loader.load(text: #"{"components": {"clock": {"type": "ticking", "interval": "2h"}}}"#, wiring: map.sharedWiring)
        let outcome = await map.reload(to: changed)
        #expect(outcome.ok)
        let actions = Dictionary(uniqueKeysWithValues: outcome.plan.entries.map { ($0.name, $0.action) })
        #expect(actions["clock.clock"] == .restart)
        #expect(actions["clock.inbox"] == .unchanged)
        #expect(actions["clock.fanout"] == .unchanged)
        #expect(try await map.inspect("clock.clock")["config"]?["interval"] == "2h")
        await map.stop()
    }

    @Test func theTickerRunsInASystem() async throws {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        registry.register(Ticker.type)
        let system = try SystemLoader(registry: registry, environment: [:], logger: .tests).load(text: #"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 8},
              "clock": {"type": "ticker", "text": "tock", "interval": "5ms", "using": {"sink": "inbox"}}
            }}
            """#)
        let map = SystemMap(system, logger: .tests)
        try await map.start()
        let inbox = try #require(await map.instance(named: "inbox") as? ChannelComponent)
        #expect(try await inbox.currentChan().receive()?.text == "tock 1")
        #expect(try await inbox.currentChan().receive()?.text == "tock 2")
        await map.stop()
        #expect(try await map.inspect("clock")["figures"]?["ticks"]?.intValue ?? 0 >= 2)
    }
}
