import SwitchboardChannels
import Testing

@Suite struct TransformTests {
    @Test func runsOverPlainSequences() {
        let xf = Transform<Int, Int>.filter { $0.isMultiple(of: 2) }.then(.map { $0 * 10 })
        #expect(xf.apply(to: 1...6) == [20, 40, 60])
        #expect(Transform<Int, Int>.mapcat { [$0, $0] }.apply(to: [1, 2]) == [1, 1, 2, 2])
        #expect(Transform<Int, Int>.take(2).apply(to: 1...10) == [1, 2])
        #expect(Transform<Int, Int>.take(0).apply(to: 1...10) == [])
        #expect(Transform<Int, Int>.takeWhile { $0 < 3 }.apply(to: 1...10) == [1, 2])
        #expect(Transform<Int, Int>.drop(8).apply(to: 1...10) == [9, 10])
        #expect(Transform<Int, String>.compactMap { $0 > 1 ? "\($0)" : nil }.apply(to: 1...3) == ["2", "3"])
        #expect(Transform<Int, Int>.chain([]).apply(to: [1]) == [1])
    }

    @Test func compositionStopsWhereAnyStageEnds() {
        let xf = Transform<Int, Int>.mapcat { [$0, $0 + 100] }.then(.take(3))
        #expect(xf.apply(to: 1...10) == [1, 101, 2])
    }

    @Test func eachUseHasItsOwnState() {
        let xf = Transform<Int, Int>.take(1)
        #expect(xf.apply(to: [1, 2]) == [1])
        #expect(xf.apply(to: [3, 4]) == [3])
    }

    @Test func aChannelAppliesItsTransformAsItemsEnter() async {
        let chan = Chan<Int>(.fixed(10), transform: .filter { $0 > 1 }.then(.map { $0 * 2 }))
        for i in 1...3 { await chan.send(i) }
        #expect(chan.poll() == 4)
        #expect(chan.poll() == 6)
        #expect(chan.poll() == nil)
    }

    @Test func earlyTerminationClosesTheChannel() async {
        let chan = Chan<Int>(.fixed(10), transform: .take(2))
        #expect(await chan.send(1) == .accepted)
        #expect(await chan.send(2) == .accepted)
        #expect(chan.isClosed)
        #expect(await chan.send(3) == .closed)
        var got: [Int] = []
        for await i in chan { got.append(i) }
        #expect(got == [1, 2])
    }

    @Test func anExpandingTransformLetsAllOutputsIn() async {
        let chan = Chan<Int>(.fixed(1), transform: .mapcat { [$0, $0, $0] })
        #expect(await chan.send(5) == .accepted)
        #expect(await chan.receive(upTo: 10) == [5, 5, 5])
    }

    @Test func anUnbufferedChannelTransformsAtTheHandOver() async {
        let chan = Chan<Int>(.unbuffered, transform: .filter { $0 != 2 }.then(.map { $0 + 1 }))
        let sender = Task { for i in 1...3 { await chan.send(i) }; chan.close() }
        var got: [Int] = []
        for await i in chan { got.append(i) }
        await sender.value
        #expect(got == [2, 4])
    }

    @Test func theTransformCanBeReplacedWhileRunning() async {
        let chan = Chan<Int>(.fixed(10), transform: .map { $0 + 1 })
        chan.offer(1)
        chan.replaceTransform(.map { $0 * 100 })
        chan.offer(1)
        #expect(chan.poll() == 2)
        #expect(chan.poll() == 100)
    }
}
