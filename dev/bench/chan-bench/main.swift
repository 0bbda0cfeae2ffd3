// Channel throughput: Switchboard's Chan and Mult against swift-async-algorithms'
// AsyncChannel (+ .buffer) and AsyncStream, on the same work, in one run.
//
//   swift run -c release chan-bench [--items N] [--rounds R]
import AsyncAlgorithms
import Foundation
import SwitchboardChannels

await Bench(arguments: CommandLine.arguments).run()

/// The benchmarks, outside the main actor so that tasks run on the cooperative pool.
struct Bench {
    let args: [String]
    init(arguments: [String]) { args = arguments }

    func run() async {

        func option(_ name: String, _ fallback: Int) -> Int {
            guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
            return v
        }
        let items = option("--items", 2_000_000)
        let rounds = option("--rounds", 5)
        let clock = ContinuousClock()

        /// Runs `body` `rounds` times; returns the median rate of `units` per second.
        func measure(_ units: Int, _ body: () async -> Void) async -> Double {
            var rates: [Double] = []
            for _ in 0..<rounds {
                let t0 = clock.now
                await body()
                let seconds = (clock.now - t0).milliseconds / 1000
                rates.append(Double(units) / seconds)
            }
            return rates.sorted()[rates.count / 2]
        }

        func format(_ rate: Double) -> String {
            rate >= 1e6 ? String(format: "%.2f M/s", rate / 1e6) : String(format: "%.0f k/s", rate / 1e3)
        }

        func report(_ work: String, _ subject: String, _ rate: Double) {
            print(String(format: "%-28@ %-34@ %@", work as NSString, subject as NSString, format(rate) as NSString))
            fflush(nil)
        }

        // MARK: One thread: the cost of the operations themselves

        report("offer+poll, one task", "Chan", await measure(items) {
            let chan = Chan<Int>(.fixed(1024))
            for i in 0..<items { chan.offer(i); _ = chan.poll() }
        })

        // MARK: SPSC through a 1024 buffer

        report("SPSC fixed(1024)", "Chan send / for await", await measure(items) {
            let chan = Chan<Int>(.fixed(1024))
            let consumer = Task { var n = 0; for await _ in chan { n += 1 }; return n }
            for i in 0..<items { await chan.send(i) }
            chan.close()
            let got = await consumer.value
            precondition(got == items)
        })

        report("SPSC fixed(1024)", "Chan send / receive(upTo: 256)", await measure(items) {
            let chan = Chan<Int>(.fixed(1024))
            let consumer = Task { var n = 0; while case let b = await chan.receive(upTo: 256), !b.isEmpty { n += b.count }; return n }
            for i in 0..<items { await chan.send(i) }
            chan.close()
            let got = await consumer.value
            precondition(got == items)
        })

        report("SPSC fixed(1024)", "AsyncChannel + .buffer(1024)", await measure(items) {
            let channel = AsyncChannel<Int>()
            let consumer = Task { var n = 0; for await _ in channel.buffer(policy: .bounded(1024)) { n += 1 }; return n }
            for i in 0..<items { await channel.send(i) }
            channel.finish()
            let got = await consumer.value
            precondition(got == items)
        })

        report("SPSC (unbounded)", "AsyncStream yield / for await", await measure(items) {
            let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
            let consumer = Task { var n = 0; for await _ in stream { n += 1 }; return n }
            for i in 0..<items { continuation.yield(i) }
            continuation.finish()
            let got = await consumer.value
            precondition(got == items)
        })

        // MARK: MPMC through a 1024 buffer (4 senders, 4 receivers)

        let producers = 4
        report("MPMC 4x4 fixed(1024)", "Chan", await measure(items) {
            let chan = Chan<Int>(.fixed(1024))
            let consumers = (0..<producers).map { _ in Task { var n = 0; for await _ in chan { n += 1 }; return n } }
            await withTaskGroup(of: Void.self) { g in
                for p in 0..<producers { g.addTask { for i in 0..<(items / producers) { await chan.send(p + i) } } }
            }
            chan.close()
            var n = 0
            for c in consumers { n += await c.value }
            precondition(n == items / producers * producers)
        })

        report("MPMC 4x4 (rendezvous)", "AsyncChannel", await measure(items) {
            let channel = AsyncChannel<Int>()
            let consumers = (0..<producers).map { _ in Task { var n = 0; for await _ in channel { n += 1 }; return n } }
            await withTaskGroup(of: Void.self) { g in
                for p in 0..<producers { g.addTask { for i in 0..<(items / producers) { await channel.send(p + i) } } }
            }
            channel.finish()
            var n = 0
            for c in consumers { n += await c.value }
            precondition(n == items / producers * producers)
        })

        // MARK: Mult fan-out

        for taps in [1, 10, 100] {
            let perTap = max(10_000, items / taps)
            report("mult → \(taps) taps (deliveries)", "Mult, block taps, batch readers", await measure(perTap * taps) {
                let source = Chan<Int>(.fixed(1024))
                let mult = Mult(source)
                let readers = (0..<taps).map { _ in
                    let tap = mult.tap(policy: .block, capacity: 1024)
                    return Task { var n = 0; while case let b = await tap.chan.receive(upTo: 1024), !b.isEmpty { n += b.count }; return n }
                }
                let pump = Task { await mult.run() }
                for i in 0..<perTap { await source.send(i) }
                source.close()
                await pump.value
                for r in readers { let got = await r.value; precondition(got == perTap) }
            })
            report("mult → \(taps) taps (deliveries)", "AsyncStream per subscriber", await measure(perTap * taps) {
                let streams = (0..<taps).map { _ in AsyncStream.makeStream(of: Int.self) }
                let readers = streams.map { s in Task { var n = 0; for await _ in s.stream { n += 1 }; return n } }
                for i in 0..<perTap { for s in streams { s.continuation.yield(i) } }
                for s in streams { s.continuation.finish() }
                for r in readers { let got = await r.value; precondition(got == perTap) }
            })
        }

        print("\nitems=\(items) rounds=\(rounds) (median of rounds), cores=\(ProcessInfo.processInfo.activeProcessorCount)")
    }
}
