// The store's figures, in one process, release build:
//
//   swift run -c release store-bench [--messages 500000] [--requests 20000] [--resume 10000]
//
//   throughput  channel → mult → store (SQLite, WAL, synchronous=NORMAL, group commit):
//               messages/s until all are committed, and put→commit latency (p50/p99) of
//               one message in 100, through the same tickets a `stored` ack waits on; with
//               one producer (the store keeps up: small batches) and with four (the store
//               is the bottleneck: full batches, and the latency is mostly the queue).
//   publish     POST /messages with "ack": "stored" and "ack": "accepted" on one server,
//               the same load (32 clients, keep-alive), interleaved in rounds: requests/s and
//               p50/p99 latency of each.
//   resume      10,000 stored messages missed: an SSE client with the id before them, on a
//               freshly started system (empty in-memory history): time to first and last event.
import AsyncHTTPClient
import Foundation
import Histogram
import Logging
import NIOCore
import Switchboard
import SwitchboardChannels
import SwitchboardStore
import SwitchboardWeb

let args = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}

func start(_ json: String) async throws -> SystemMap {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    var registry = ComponentRegistry()
    registry.register(ChannelComponents.types())
    registry.register(WebComponents.types)
    registry.register(StoreComponents.types)
    let map = SystemMap(try SystemLoader(registry: registry, environment: [:], logger: logger).load(text: json), logger: logger)
    try await map.start()
    return map
}

/// `--only throughput,publish,resume` runs some sections.
let sections = Set((args.firstIndex(of: "--only").flatMap { args.indices.contains($0 + 1) ? args[$0 + 1] : nil } ?? "throughput,publish,resume").split(separator: ",").map(String.init))

func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
func fmt(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

let dir = NSTemporaryDirectory() + "store-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: dir) }

// MARK: throughput

for producers in [1, option("--producers", 4)] where sections.contains("throughput") {
    let n = option("--messages", 500_000)
    let map = try await start(#"""
        {"components": {
          "inbox": {"type": "channel", "buffer": {"size": 8192}},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "archive": {"type": "store", "path": "\#(dir)/throughput-\#(producers).sqlite", "capacity": 8192, "commitTimeout": "60s", "using": {"source": "fanout"}}
        }}
        """#)
    let inbox = await map.instance(named: "inbox") as! any MessageSink
    let store = await map.instance(named: "archive") as! StoreComponent
    let clock = ContinuousClock()
    let settled = LatencyLog()
    let began = clock.now
    // Several producers, as several publishers would be; each waits for the commit of one
    // message in 100 it puts, in a task of its own (as a `stored` ack does).
    let waiters = await withTaskGroup(of: [Task<Void, Never>].self) { group in
        for p in 0..<producers {
            group.addTask {
                var waiters: [Task<Void, Never>] = []
                for i in stride(from: p, to: n, by: producers) {
                    let m = Message(from: "bench", text: "message \(i) with a chat-sized text of about sixty bytes", room: i % 2 == 0 ? "a" : "b")
                    if i % 100 == 0 {
                        let ticket = store.expectCommit(of: m.id)
                        let at = clock.now
                        waiters.append(Task {
                            if case .failure(let why) = await ticket.wait() { print("not stored: \(why)"); exit(1) }
                            settled.add(clock.now - at)
                        })
                    }
                    _ = await inbox.put(m, timeout: .seconds(60))
                }
                return waiters
            }
        }
        var all: [Task<Void, Never>] = []
        for await some in group { all += some }
        return all
    }
    for w in waiters { await w.value }
    // Past the last sampled message: wait for the few after it.
    while store.lag > 0 { try await Task.sleep(for: .milliseconds(1)) }
    let elapsed = clock.now - began
    let rate = Double(n) / (ms(elapsed) / 1000)
    let figures = try await map.inspect("archive")["figures"]
    let (p50, p99) = settled.percentiles()
    print("throughput, \(producers) producer\(producers == 1 ? "" : "s"): put→commit latency (1 in 100 messages) p50 \(fmt(p50)) ms, p99 \(fmt(p99)) ms; commit of one batch \(fmt((figures?["commitSeconds"]?.doubleValue ?? 0) * 1000)) ms on average")
    print("throughput, \(producers) producer\(producers == 1 ? "" : "s"): \(n) messages stored in \(fmt(ms(elapsed) / 1000, 2)) s = \(Int(rate)) messages/s; average batch \(fmt(figures?["averageBatch"]?.doubleValue ?? 0, 0)), rows \(figures?["rows"]?.intValue ?? 0), \(Int((figures?["bytesOnDisk"]?.intValue ?? 0) / 1_048_576)) MiB on disk")
    await map.stop()
}

// MARK: publish, stored vs accepted

if sections.contains("publish") {
    let total = option("--requests", 20_000)
    let clients = 32
    let map = try await start(#"""
        {"components": {
          "inbox": {"type": "channel", "buffer": {"size": 8192}},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "archive": {"type": "store", "path": "\#(dir)/publish.sqlite", "using": {"source": "fanout"}},
          "http": {"type": "http-server", "port": 0},
          "stored": {"type": "publish", "path": "/stored", "ack": "stored", "using": {"server": "http", "channel": "inbox", "store": "archive"}},
          "accepted": {"type": "publish", "path": "/accepted", "ack": "accepted", "using": {"server": "http", "channel": "inbox"}}
        }}
        """#)
    let base = (await map.instance(named: "http") as! HTTPServerComponent).baseURL!
    var config = HTTPClient.Configuration()
    config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = clients
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    var results: [String: (rate: Double, log: LatencyLog)] = ["stored": (0, LatencyLog()), "accepted": (0, LatencyLog())]
    var elapsedByPath: [String: Duration] = ["stored": .zero, "accepted": .zero]
    let rounds = option("--rounds", 8)
    // Rounds alternate, so both see the same machine state (page cache, WAL size, warm-up).
    for round in 0..<(rounds * 2) {
        let path = round % 2 == 0 ? "stored" : "accepted"
        let log = results[path]!.log
        let perClient = total / rounds / clients
        let clock = ContinuousClock()
        let began = clock.now
        await withTaskGroup(of: Void.self) { group in
            for c in 0..<clients {
                group.addTask {
                    for i in 0..<perClient {
                        var req = HTTPClientRequest(url: base + "/" + path)
                        req.method = .POST
                        req.headers.add(name: "Content-Type", value: "application/json")
                        req.body = .bytes(ByteBuffer(string: #"{"from": "c\#(c)", "text": "message \#(i) of a chat-sized length, about sixty bytes"}"#))
                        let at = clock.now
                        guard let res = try? await client.execute(req, timeout: .seconds(30)), res.status == .accepted else {
                            print("a publish failed"); exit(1)
                        }
                        _ = try? await res.body.collect(upTo: 1 << 16)
                        log.add(clock.now - at)
                    }
                }
            }
        }
        elapsedByPath[path]! += clock.now - began
    }
    for path in ["stored", "accepted"] {
        let n = Double(results[path]!.log.count)
        results[path]!.rate = n / (ms(elapsedByPath[path]!) / 1000)
    }
    let s = results["stored"]!, a = results["accepted"]!
    let (sp50, sp99) = s.log.percentiles(), (ap50, ap99) = a.log.percentiles()
    print("publish (\(clients) clients, \(total) requests each way): ack stored \(Int(s.rate)) req/s p50 \(fmt(sp50)) ms p99 \(fmt(sp99)) ms | ack accepted \(Int(a.rate)) req/s p50 \(fmt(ap50)) ms p99 \(fmt(ap99)) ms | stored/accepted throughput \(fmt(s.rate / a.rate)), p50 added \(fmt(sp50 - ap50)) ms")
    client.shutdown { _ in }
    await map.stop()
}

// MARK: resume of 10,000 missed messages

if sections.contains("resume") {
    let missed = option("--resume", 10_000)
    let path = "\(dir)/resume.sqlite"
    let writer = try await start(#"""
        {"components": {
          "inbox": {"type": "channel", "buffer": {"size": 8192}},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "archive": {"type": "store", "path": "\#(path)", "using": {"source": "fanout"}}
        }}
        """#)
    let inbox = await writer.instance(named: "inbox") as! any MessageSink
    let store = await writer.instance(named: "archive") as! StoreComponent
    var first: MessageID?
    for i in 0...missed {
        let m = Message(from: "bench", text: "missed message \(i)")
        if i == 0 { first = m.id }
        _ = await inbox.put(m, timeout: .seconds(60))
    }
    while store.lag > 0 { try await Task.sleep(for: .milliseconds(1)) }
    await writer.stop()

    let map = try await start(#"""
        {"components": {
          "inbox": {"type": "channel"},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "archive": {"type": "store", "path": "\#(path)", "using": {"source": "fanout"}},
          "http": {"type": "http-server", "port": 0},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout", "history": "archive"}}
        }}
        """#)
    let base = (await map.instance(named: "http") as! HTTPServerComponent).baseURL!
    var req = HTTPClientRequest(url: base + "/events")
    req.headers.add(name: "Last-Event-ID", value: first!.description)
    let clock = ContinuousClock()
    let began = clock.now
    let res = try await HTTPClient.shared.execute(req, timeout: .seconds(60))
    var seen = 0
    var firstAt: Duration?
    var tail = ""
    reading: for try await chunk in res.body {
        tail += String(buffer: chunk)
        var lines = tail.split(separator: "\n", omittingEmptySubsequences: false)
        tail = String(lines.removeLast())
        for line in lines where line.hasPrefix("id: ") {
            seen += 1
            if firstAt == nil { firstAt = clock.now - began }
            if seen == missed { break reading }
        }
    }
    let lastAt = clock.now - began
    print("resume: \(seen) missed messages from the store over SSE: first event after \(fmt(ms(firstAt ?? .zero))) ms, last after \(fmt(ms(lastAt))) ms")
    await map.stop()
}

/// Latencies from many tasks; percentiles through HdrHistogram.
final class LatencyLog: @unchecked Sendable {
    private let lock = NSLock()
    private var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    func add(_ d: Duration) {
        let us = UInt64(max(0, ms(d) * 1000))
        lock.lock(); histogram.record(us); lock.unlock()
    }
    /// p50 and p99 in milliseconds.
    func percentiles() -> (Double, Double) {
        lock.lock(); defer { lock.unlock() }
        return (Double(histogram.valueAtPercentile(50)) / 1000, Double(histogram.valueAtPercentile(99)) / 1000)
    }
    var count: Int { lock.lock(); defer { lock.unlock() }; return Int(histogram.totalCount) }
}
