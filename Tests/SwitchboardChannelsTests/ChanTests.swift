import SwitchboardChannels
import Testing

/// core.async's channel semantics, case by case.
@Suite struct ChanTests {
    @Test func unbufferedSendWaitsForAReceiver() async {
        let chan = Chan<Int>()
        #expect(chan.offer(1) == .wouldBlock)
        let sender = Task { await chan.send(7) }
        await eventually("a pending sender") { chan.stats.pendingSenders == 1 }
        #expect(await chan.receive() == 7)
        #expect(await sender.value == .accepted)
        #expect(chan.stats.pendingSenders == 0)
    }

    @Test func unbufferedReceiveWaitsForASender() async {
        let chan = Chan<Int>()
        let receiver = Task { await chan.receive() }
        await eventually("a pending receiver") { chan.stats.pendingReceivers == 1 }
        #expect(chan.offer(3) == .accepted)
        #expect(await receiver.value == 3)
    }

    @Test func fixedBufferAppliesBackPressure() async {
        let chan = Chan<Int>(.fixed(2))
        #expect(chan.offer(1) == .accepted)
        #expect(chan.offer(2) == .accepted)
        #expect(chan.offer(3) == .wouldBlock)
        let sender = Task { await chan.send(3) }
        await eventually("a pending sender") { chan.stats.pendingSenders == 1 }
        #expect(await chan.receive() == 1)
        #expect(await sender.value == .accepted)
        #expect(chan.poll() == 2)
        #expect(chan.poll() == 3)
        #expect(chan.poll() == nil)
        #expect(chan.stats.dropped == 0)
    }

    @Test func droppingBufferDropsNewItemsAndCountsThem() async {
        let chan = Chan<Int>(.dropping(2))
        for i in 1...5 { #expect(await chan.send(i) == (i <= 2 ? .accepted : .dropped)) }
        #expect(chan.stats.dropped == 3)
        #expect(chan.poll() == 1)
        #expect(chan.poll() == 2)
        #expect(chan.poll() == nil)
    }

    @Test func slidingBufferDropsOldestItemsAndCountsThem() async {
        let chan = Chan<Int>(.sliding(2))
        for i in 1...5 { #expect(await chan.send(i) == .accepted) }
        #expect(chan.stats.dropped == 3)
        #expect(chan.poll() == 4)
        #expect(chan.poll() == 5)
    }

    @Test func closeDrainsBufferedItemsThenEnds() async {
        let chan = Chan<Int>(.fixed(4))
        await chan.send(1)
        await chan.send(2)
        chan.close()
        #expect(await chan.send(3) == .closed)
        #expect(chan.offer(3) == .closed)
        #expect(await chan.receive() == 1)
        #expect(await chan.receive() == 2)
        #expect(await chan.receive() == nil)
        #expect(await chan.receive() == nil)
        chan.close()  // idempotent
    }

    @Test func closeWakesWaitingReceiversAndRefusesWaitingSenders() async {
        let full = Chan<Int>(.fixed(1))
        full.offer(1)
        let sender = Task { await full.send(2) }
        await eventually("a pending sender") { full.stats.pendingSenders == 1 }
        full.close()
        #expect(await sender.value == .closed)
        #expect(full.poll() == 1)

        let empty = Chan<Int>(.fixed(1))
        let receivers = (0..<3).map { _ in Task { await empty.receive() } }
        await eventually("three pending receivers") { empty.stats.pendingReceivers == 3 }
        empty.close()
        for r in receivers { #expect(await r.value == nil) }
    }

    @Test func forAwaitIteratesUntilClosed() async {
        let chan = Chan<Int>(.fixed(8))
        Task {
            for i in 1...5 { await chan.send(i) }
            chan.close()
        }
        var got: [Int] = []
        for await i in chan { got.append(i) }
        #expect(got == [1, 2, 3, 4, 5])
    }

    @Test func cancellingAWaitingSendLeavesTheChannelConsistent() async {
        let chan = Chan<Int>(.fixed(1))
        chan.offer(1)
        let sender = Task { await chan.send(2) }
        await eventually("a pending sender") { chan.stats.pendingSenders == 1 }
        sender.cancel()
        #expect(await sender.value == .cancelled)
        #expect(chan.stats.pendingSenders == 0)
        #expect(chan.poll() == 1)
        #expect(chan.poll() == nil)  // the cancelled item never entered
        #expect(chan.offer(3) == .accepted)
        #expect(chan.poll() == 3)
    }

    @Test func cancellingAWaitingReceiveLeavesTheChannelConsistent() async {
        let chan = Chan<Int>(.fixed(1))
        let receiver = Task { await chan.receive() }
        await eventually("a pending receiver") { chan.stats.pendingReceivers == 1 }
        receiver.cancel()
        #expect(await receiver.value == nil)
        #expect(chan.stats.pendingReceivers == 0)
        chan.offer(9)
        #expect(chan.poll() == 9)  // not handed to the cancelled receiver
    }

    @Test func anAlreadyCancelledTaskDoesNotWait() async {
        let chan = Chan<Int>()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return (await chan.send(1), await chan.receive())
        }
        let (sent, received) = await task.value
        #expect(sent == .cancelled)
        #expect(received == nil)
        #expect(chan.stats.pendingSenders == 0 && chan.stats.pendingReceivers == 0)
    }

    @Test func thousandsOfPendingOperationsAreFine() async {
        // core.async asserts at 1024 pending puts; this channel has no such limit.
        let chan = Chan<Int>()
        let n = 5000
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<n { group.addTask { await chan.send(i) } }
            await eventually("\(n) pending senders") { chan.stats.pendingSenders == n }
            var got = Set<Int>()
            for _ in 0..<n { if let v = await chan.receive() { got.insert(v) } }
            #expect(got.count == n)
        }
    }

    @Test func receiveUpToTakesABatch() async {
        let chan = Chan<Int>(.fixed(10))
        for i in 1...7 { chan.offer(i) }
        #expect(await chan.receive(upTo: 5) == [1, 2, 3, 4, 5])
        #expect(await chan.receive(upTo: 5) == [6, 7])
        chan.close()
        #expect(await chan.receive(upTo: 5) == [])
    }

    @Test func sendWithTimeoutGivesUpWhenNoRoomAppears() async {
        let chan = Chan<Int>(.fixed(1))
        chan.offer(1)
        #expect(await chan.send(2, timeout: .milliseconds(20)) == nil)
        #expect(chan.stats.pendingSenders == 0)
        #expect(await chan.send(2, timeout: .zero) == nil)
        _ = chan.poll()
        #expect(await chan.send(2, timeout: .milliseconds(20)) == .accepted)
    }
}
