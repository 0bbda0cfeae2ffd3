import SwitchboardChannels
import Testing

/// The block at the top of the guide's "Channels in Swift" (DocsCodeBlocksTests holds the two
/// together), run.
@Test func theChannelsArticlesExampleRuns() async {
    let chan = Chan<Int>(.fixed(16), transform: .filter { $0 > 0 }.then(.map { $0 * 2 }))
    await chan.send(1)                // .accepted; waits while a fixed buffer is full
    chan.offer(2)                     // never waits: .accepted / .dropped / .wouldBlock / .closed
    let first = await chan.receive()  // Optional(2); nil once closed and drained

    let mult = Mult(chan)
    let tap = mult.tap(name: "slow", policy: .dropOldest, capacity: 8)
    Task { await mult.run() }
    chan.close()                      // what is buffered still drains, then the taps close
    var seen: [Int] = []
    for await x in tap.chan { seen.append(x) }  // [4]
    #expect(first == 2)
    #expect(seen == [4])
}
