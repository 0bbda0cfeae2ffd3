import PropertyBased
import SwitchboardChannels
import Testing

/// With fixed buffers, no item is lost or duplicated whatever the number of concurrent
/// senders and receivers and the buffer size.
@Suite struct PropertyTests {
    @Test func fixedBuffersNeitherLoseNorDuplicate() async {
        await propertyCheck(count: 60, input: Gen.int(in: 1...8), Gen.int(in: 1...8), Gen.int(in: 0...16), Gen.int(in: 1...300)) {
            senders, receivers, capacity, perSender in
            let chan = Chan<Int>(capacity == 0 ? .unbuffered : .fixed(capacity))
            let received = await withTaskGroup(of: [Int].self) { group in
                for r in 0..<receivers {
                    group.addTask {
                        var got: [Int] = []
                        // Half the receivers take batches, half one at a time.
                        if r.isMultiple(of: 2) {
                            for await i in chan { got.append(i) }
                        } else {
                            while case let batch = await chan.receive(upTo: 7), !batch.isEmpty { got += batch }
                        }
                        return got
                    }
                }
                let sending = Task {
                    await withTaskGroup(of: Void.self) { senders_ in
                        for s in 0..<senders {
                            senders_.addTask {
                                for i in 0..<perSender {
                                    let r = await chan.send(s * 1_000_000 + i)
                                    precondition(r == .accepted)
                                }
                            }
                        }
                    }
                    chan.close()
                }
                await sending.value
                var all: [Int] = []
                for await part in group { all += part }
                return all
            }
            let expected = (0..<senders).flatMap { s in (0..<perSender).map { s * 1_000_000 + $0 } }
            #expect(received.count == expected.count)
            #expect(Set(received) == Set(expected))
            #expect(chan.stats.dropped == 0)
        }
    }

    @Test func eachSendersItemsArriveInOrderAtASingleReceiver() async {
        await propertyCheck(count: 40, input: Gen.int(in: 1...6), Gen.int(in: 0...8)) { senders, capacity in
            let chan = Chan<Int>(capacity == 0 ? .unbuffered : .fixed(capacity))
            Task {
                await withTaskGroup(of: Void.self) { g in
                    for s in 0..<senders { g.addTask { for i in 0..<200 { await chan.send(s * 1000 + i) } } }
                }
                chan.close()
            }
            var last = [Int: Int]()
            var count = 0
            for await v in chan {
                let (s, i) = (v / 1000, v % 1000)
                #expect(i > last[s, default: -1])
                last[s] = i
                count += 1
            }
            #expect(count == senders * 200)
        }
    }
}
