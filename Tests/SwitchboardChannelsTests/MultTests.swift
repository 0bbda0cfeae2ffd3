import SwitchboardChannels
import Testing

/// Mult behaviour for each slow-consumer policy, with one tap that never reads until the end.
@Suite struct MultTests {
    /// Sends 1...n through a mult with a `fast` tap (read as it goes) and a `slow` one (read
    /// only after the source has closed); returns what each got.
    func fanOut(_ n: Int, slowPolicy: TapPolicy, slowCapacity: Int = 2) async -> (fast: [Int], slow: [Int], slowTap: Tap<Int>) {
        let source = Chan<Int>(.fixed(4))
        let mult = Mult(source, batchSize: 1)
        let fast = mult.tap(name: "fast", policy: .block, capacity: 4)
        let slow = mult.tap(name: "slow", policy: slowPolicy, capacity: slowCapacity)
        let pump = Task { await mult.run() }
        let reader = Task { var got: [Int] = []; for await i in fast { got.append(i) }; return got }
        for i in 1...n { await source.send(i) }
        source.close()
        let fastGot = await reader.value
        await pump.value
        var slowGot: [Int] = []
        for await i in slow { slowGot.append(i) }
        return (fastGot, slowGot, slow)
    }

    @Test func dropNewestKeepsTheFirstItemsForTheSlowTap() async {
        let (fast, slow, tap) = await fanOut(10, slowPolicy: .dropNewest)
        #expect(fast == Array(1...10))
        #expect(slow == [1, 2])
        #expect(tap.counters.dropped == 8)
        #expect(tap.counters.delivered == 2)
    }

    @Test func dropOldestKeepsTheLatestItemsForTheSlowTap() async {
        let (fast, slow, tap) = await fanOut(10, slowPolicy: .dropOldest)
        #expect(fast == Array(1...10))
        #expect(slow == [9, 10])
        #expect(tap.counters.dropped == 8)
    }

    @Test func disconnectRemovesTheSlowTap() async {
        let (fast, slow, tap) = await fanOut(10, slowPolicy: .disconnect)
        #expect(fast == Array(1...10))
        #expect(slow == [1, 2])
        #expect(tap.isDisconnected)
        #expect(tap.counters.dropped >= 1)
    }

    @Test func blockLetsTheSlowestTapSetThePaceAndPushesBackOnTheSender() async {
        let source = Chan<Int>(.fixed(1))
        let mult = Mult(source, batchSize: 1)
        let fast = mult.tap(name: "fast", policy: .block, capacity: 100)
        let slow = mult.tap(name: "slow", policy: .block, capacity: 1)
        let pump = Task { await mult.run() }
        let sender = Task { for i in 1...10 { await source.send(i) }; source.close() }
        // slow holds 1, the mult waits to give it 2, the source holds 3, the sender waits with 4.
        await eventually("back-pressure on the sender") {
            slow.chan.stats.pendingSenders == 1 && source.stats.pendingSenders == 1
        }
        #expect(fast.counters.delivered == 2)
        #expect(slow.counters.buffered == 1)
        var slowGot: [Int] = []
        for await i in slow { slowGot.append(i) }
        await sender.value
        await pump.value
        var fastGot: [Int] = []
        for await i in fast { fastGot.append(i) }
        #expect(slowGot == Array(1...10))
        #expect(fastGot == Array(1...10))
        #expect(slow.counters.dropped == 0)
    }

    @Test func untappingABlockedTapReleasesTheOthers() async {
        let source = Chan<Int>(.fixed(1))
        let mult = Mult(source, batchSize: 1)
        let fast = mult.tap(name: "fast", capacity: 100)
        let stuck = mult.tap(name: "stuck", capacity: 1)
        let pump = Task { await mult.run() }
        let sender = Task { for i in 1...10 { await source.send(i) }; source.close() }
        await eventually("the mult blocked on the stuck tap") { stuck.chan.stats.pendingSenders == 1 }
        mult.untap(stuck)
        await sender.value
        await pump.value
        var got: [Int] = []
        for await i in fast { got.append(i) }
        #expect(got == Array(1...10))
        #expect(mult.currentTaps.isEmpty)
    }

    @Test func tapsCanComeAndGoWhileItemsFlow() async {
        let source = Chan<Int>(.fixed(4))
        let mult = Mult(source)
        let first = mult.tap(name: "first", capacity: 100)
        let pump = Task { await mult.run() }
        await source.send(1)
        await eventually("item 1 at the first tap") { first.counters.delivered == 1 }
        let second = mult.tap(name: "second", capacity: 100)
        await source.send(2)
        await eventually("item 2 at the second tap") { second.counters.delivered == 1 }
        first.cancel()
        await source.send(3)
        source.close()
        await pump.value
        var a: [Int] = [], b: [Int] = []
        for await i in first { a.append(i) }
        for await i in second { b.append(i) }
        #expect(a == [1, 2])
        #expect(b == [2, 3])
    }

    @Test func closingTheSourceClosesTheTapsUnlessKeptOpen() async {
        let source = Chan<Int>(.fixed(1))
        let mult = Mult(source)
        let tap = mult.tap()
        source.close()
        await mult.run()
        #expect(tap.chan.isClosed)
        #expect(mult.tap().chan.isClosed)  // a tap added after the end is closed at once

        let kept = Chan<Int>(.fixed(1))
        let keepMult = Mult(kept, keepTapsOpen: true)
        let open = keepMult.tap()
        kept.close()
        await keepMult.run()
        #expect(!open.chan.isClosed)
    }
}

@Suite struct PubTests {
    @Test func routesItemsToTheSubscribersOfTheirTopic() async {
        let source = Chan<String>(.fixed(16))
        let pub = Pub(source) { $0.split(separator: ":").first.map(String.init) }
        let a = pub.subscribe("a", capacity: 10)
        let a2 = pub.subscribe("a", capacity: 10)
        let b = pub.subscribe("b", capacity: 10)
        let pump = Task { await pub.run() }
        for s in ["a:1", "b:1", "c:1", "a:2", "nocolon"] { await source.send(s) }
        source.close()
        await pump.value
        var got: [String: [String]] = [:]
        for (name, tap) in [("a", a), ("a2", a2), ("b", b)] {
            for await s in tap { got[name, default: []].append(s) }
        }
        #expect(got["a"] == ["a:1", "a:2"])
        #expect(got["a2"] == ["a:1", "a:2"])
        #expect(got["b"] == ["b:1"])
        // "c:1" has no subscriber; "nocolon" is its own topic with none either.
        #expect(pub.unrouted == 2)
    }

    @Test func unsubscribingATopicClosesItsTaps() async {
        let source = Chan<String>(.fixed(4))
        let pub = Pub(source) { $0 }
        let tap = pub.subscribe("x")
        pub.unsubscribeAll("x")
        #expect(tap.chan.isClosed)
        #expect(pub.subscriptions.isEmpty)
    }
}
