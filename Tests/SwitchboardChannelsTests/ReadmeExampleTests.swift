import Foundation
import Logging
import Switchboard
import SwitchboardTesting
import SwitchboardChannels
import Testing

/// The README's custom component compiles (it is `ReadmeExample.swift`), is the code the
/// README shows, and works when wired in JSON next to built-in types.
@Suite struct ReadmeExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theReadmeShowsTheCompiledExample() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(contentsOf: Self.root.appendingPathComponent("Tests/SwitchboardChannelsTests/ReadmeExample.swift"), encoding: .utf8)
        #expect(readme.contains("```swift\n" + example + "```"))
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
