import Logging
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import Testing

/// The channel, mult and pub components configured from JSON, through a system map.
@Suite struct ChannelComponentTests {
    func makeMap(_ json: String) throws -> SystemMap {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        return SystemMap(try SystemLoader(registry: registry, environment: [:], logger: .tests).load(text: json), logger: .tests)
    }

    let chat = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": {"size": 2, "policy": "fixed"}, "transforms": ["autocorrect", "emoticons"]},
          "fanout": {"type": "mult", "using": {"source": "inbox"}, "tapDefaults": {"policy": "dropNewest", "capacity": 8}},
          "rooms": {"type": "pub", "using": {"source": "other"}, "topic": "room"},
          "other": {"type": "channel", "buffer": 16}
        }}
        """#

    @Test func putMessagesFlowThroughTransformsToTaps() async throws {
        let map = try makeMap(chat)
        try await map.start()
        let fanout = try #require(await map.instance(named: "fanout") as? any MessageFanout)
        let inbox = try #require(await map.instance(named: "inbox") as? any MessageSink)
        let tap = try fanout.tap(TapOptions(name: "test"))
        let message = Message(from: "ann", text: "teh end :)")
        #expect(await inbox.put(message, timeout: .zero) == .accepted)
        let got = try #require(await tap.chan.receive())
        #expect(got.text == "the end 🙂")
        #expect(got.id == message.id)
        let figures = try await map.inspect("fanout")["figures"]
        #expect(figures?["tapCount"] == 1)
        #expect(figures?["taps"]?[0]?["policy"] == "dropNewest")
        #expect(figures?["taps"]?[0]?["delivered"] == 1)
        await map.stop()
        #expect(await tap.chan.receive() == nil)  // a stopped mult closes its taps
    }

    /// A mult's `delivered` is every delivery it made: to its taps and to its listeners (the SSE
    /// and WebSocket endpoints), one per consumer per message (it read 0 while SSE showed 4).
    @Test func aMultsDeliveredCountsItsListenersToo() async throws {
        let map = try makeMap(chat)
        try await map.start()
        let fanout = try #require(await map.instance(named: "fanout") as? MultComponent)
        let inbox = try #require(await map.instance(named: "inbox") as? any MessageSink)
        let tap = try fanout.tap(TapOptions(name: "test"))
        let heard = AsyncStream<Int>.makeStream()
        let remove = try fanout.listen({ batch in heard.continuation.yield(batch.count) }, end: {})
        for text in ["one", "two"] { #expect(await inbox.put(Message(from: "ann", text: text), timeout: .seconds(1)) == .accepted) }
        _ = await tap.chan.receive(); _ = await tap.chan.receive()
        var listened = 0
        for await n in heard.stream { listened += n; if listened == 2 { break } }
        let figures = try await map.inspect("fanout")["figures"]
        #expect(figures?["delivered"] == 4, "\(String(describing: figures))")
        remove()
        await map.stop()
    }

    @Test func aFullChannelSaysWouldBlockAndInspectShowsTheFill() async throws {
        let map = try makeMap(#"{"components": {"inbox": {"type": "channel", "buffer": {"size": 2}}}}"#)
        try await map.start()
        let inbox = try #require(await map.instance(named: "inbox") as? any MessageSink)
        #expect(await inbox.put(Message(from: "a", text: "1"), timeout: .zero) == .accepted)
        #expect(await inbox.put(Message(from: "a", text: "2"), timeout: .zero) == .accepted)
        #expect(await inbox.put(Message(from: "a", text: "3"), timeout: .milliseconds(10)) == .wouldBlock)
        let figures = try await map.inspect("inbox")["figures"]
        #expect(figures?["count"] == 2)
        #expect(figures?["capacity"] == 2)
        #expect(figures?["puts"] == 2)
        await map.stop()
        #expect(await inbox.put(Message(from: "a", text: "4"), timeout: .zero) == .closed)
        #expect(try await map.inspect("inbox")["figures"]?["discardedOnStop"] == 2)
    }

    @Test func tailingAChannelSeesMessagesWithoutTakingThem() async throws {
        let map = try makeMap(chat)
        try await map.start()
        let inbox = try #require(await map.instance(named: "inbox") as? any MessageChannel & MessageTailable)
        let tail = try inbox.tail(capacity: 1)
        _ = await inbox.put(Message(from: "a", text: "one"), timeout: .zero)
        _ = await inbox.put(Message(from: "a", text: "two"), timeout: .zero)
        #expect(tail.chan.poll()?.text == "two")  // a drop-oldest tail never slows the channel
        #expect(tail.counters.dropped == 1)
        tail.cancel()
        await map.stop()
    }

    @Test func updatingTransformsInPlaceKeepsTheChannel() async throws {
        let map = try makeMap(chat)
        try await map.start()
        let inbox = try #require(await map.instance(named: "inbox") as? ChannelComponent)
        let chan = try inbox.currentChan()
        try await inbox.update(ConfigReader(JSONObject(["buffer": ["size": 2, "policy": "fixed"], "transforms": [["censor": ["words": ["zap"]]]]])))
        #expect(try inbox.currentChan() === chan)
        let tail = try inbox.tail(capacity: 4)
        _ = await inbox.put(Message(from: "a", text: "zap teh"), timeout: .zero)
        #expect(tail.chan.poll()?.text == "*** teh")
        await map.stop()
    }

    @Test func pubRoutesByRoom() async throws {
        let map = try makeMap(chat)
        try await map.start()
        let rooms = try #require(await map.instance(named: "rooms") as? any MessageFanout)
        let other = try #require(await map.instance(named: "other") as? any MessageSink)
        let lobby = try rooms.tap(TapOptions(name: "l", topic: "lobby"))
        let dev = try rooms.tap(TapOptions(name: "d", topic: "dev"))
        _ = await other.put(Message(from: "a", text: "hi dev", room: "dev"), timeout: .zero)
        _ = await other.put(Message(from: "a", text: "hi lobby", room: "lobby"), timeout: .zero)
        #expect(await dev.chan.receive()?.text == "hi dev")
        #expect(await lobby.chan.receive()?.text == "hi lobby")
        await map.stop()
    }

    @Test func configMistakesAreReportedWithPaths() {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        let issues = TestSystems.issues(#"""
            {"components": {
              "a": {"type": "channel", "buffer": {"size": -1, "policy": "fixd"}},
              "b": {"type": "channel", "buffer": 0, "transforms": ["code"]},
              "m": {"type": "mult", "using": {"source": "x"}, "tapDefaults": {"policy": "drop"}},
              "x": {"type": "mult", "using": {"source": "a"}}
            }}
            """#, registry: registry)
        let byPath = Dictionary(issues.map { ($0.path.description, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["components.a.buffer.size"] == .invalidValue)
        #expect(byPath["components.a.buffer.policy"] == .invalidValue)
        #expect(byPath["components.b.buffer"] == .invalidValue)
        #expect(byPath["components.m.tapDefaults.policy"] == .invalidValue)
        #expect(byPath["components.m.using.source"] == .wrongDependencyKind)
    }
}
