// The bus's own figures, in one process, release build, against a private PostgreSQL
// (../postgres.sh, fsync on):
//
//   swift run -c release cluster-bench [--messages 60000] [--latency 2000] [--instances 3]
//
// Three instances (three system maps: channel → bus → mult, each its own bus connections) on
// one database, side by side with one instance without a bus (channel → mult):
//   throughput  messages put round-robin onto the instances' channels as fast as they take
//               them: messages/s until every instance has delivered every message, and
//               put→delivery latency on every instance (p50/p99).
//   latency     one message in flight, put on each instance in turn: put→delivery on the
//               other instances (cross-instance), p50/p99.
// Every run checks that each instance delivered every message once, in the same order.
import Foundation
import Histogram
import Logging
import Switchboard
import SwitchboardChannels
import SwitchboardStore
import Synchronization

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
    registry.register(StoreComponents.types)
    let map = SystemMap(try SystemLoader(registry: registry, environment: [:], logger: logger).load(text: json), logger: logger)
    try await map.start()
    return map
}

func shell(_ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: args[0])
    p.arguments = Array(args.dropFirst())
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return text.split(separator: "\n").last.map(String.init) ?? ""
}

/// Where each instance's deliveries go: per sequence number, when it arrived; the ids in order.
final class Deliveries: Sendable {
    struct State {
        var arrived: [ContinuousClock.Instant?]
        var ids: [MessageID] = []
        var duplicates = 0
        var count = 0
    }
    let state: Mutex<State>
    init(_ n: Int) { state = Mutex(State(arrived: Array(repeating: nil, count: n))) }

    func take(_ batch: [Message], at now: ContinuousClock.Instant) {
        state.withLock { s in
            for m in batch {
                guard let seq = Int(m.text.dropFirst(4)), seq < s.arrived.count else { continue }
                if s.arrived[seq] != nil { s.duplicates += 1; continue }
                s.arrived[seq] = now
                s.ids.append(m.id)
                s.count += 1
            }
        }
    }

    var count: Int { state.withLock { $0.count } }
}

struct Instance: Sendable {
    let map: SystemMap
    let inbox: any MessageSink
    let deliveries: Deliveries
    let reader: Task<Void, Never>
}

/// `count` instances (with a bus on `url` when given), each read by a tap of its own.
func instances(_ count: Int, url: String?, messages: Int, table: String) async throws -> [Instance] {
    var all: [Instance] = []
    for i in 0..<count {
        let bus = url.map { """
              "db": {"type": "postgres", "url": "\($0)", "poolSize": 8, "tls": "off"},
              "bus": {"type": "bus", "table": "\(table)", "capacity": 8192, "commitTimeout": "60s", "using": {"source": "inbox", "database": "db"}},
            """ } ?? ""
        let map = try await start("""
            {"name": "bench", "instance": "node-\(i + 1)", "components": {
              "inbox": {"type": "channel", "buffer": {"size": 8192}},
              \(bus)
              "fanout": {"type": "mult", "using": {"source": "\(url == nil ? "inbox" : "bus")"}}
            }}
            """)
        let fanout = await map.instance(named: "fanout") as! any MessageFanout
        let tap = try fanout.tap(TapOptions(name: "bench", policy: .block, capacity: 65_536))
        let deliveries = Deliveries(messages)
        let reader = Task {
            while true {
                let batch = await tap.chan.receive(upTo: 1024)
                if batch.isEmpty { return }
                deliveries.take(batch, at: .now)
            }
        }
        all.append(Instance(map: map, inbox: await map.instance(named: "inbox") as! any MessageSink, deliveries: deliveries, reader: reader))
    }
    return all
}

func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

func percentiles(_ values: [Duration]) -> (p50: Double, p99: Double) {
    var h = Histogram<UInt64>(highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .three)
    for v in values { _ = h.record(UInt64(max(0, ms(v) * 1_000_000))) }
    return (Double(h.valueAtPercentile(50)) / 1e6, Double(h.valueAtPercentile(99)) / 1e6)
}

/// Checks every instance got every message once and in the same order; returns a problem, if any.
func check(_ nodes: [Instance], messages: Int) -> String? {
    let states = nodes.map { $0.deliveries.state.withLock { $0 } }
    for (i, s) in states.enumerated() {
        if s.count != messages { return "instance \(i + 1) delivered \(s.count) of \(messages)" }
        if s.duplicates > 0 { return "instance \(i + 1) delivered \(s.duplicates) twice" }
        if s.ids != states[0].ids { return "instance \(i + 1) delivered in another order" }
    }
    return nil
}

/// When each message was put.
final class Stamps: Sendable {
    let value: Mutex<[ContinuousClock.Instant?]>
    init(_ n: Int) { value = Mutex(Array(repeating: nil, count: n)) }
}

func throughput(_ nodes: [Instance], messages n: Int) async -> [String: String] {
    let clock = ContinuousClock()
    let put = Stamps(n)
    let began = clock.now
    await withTaskGroup(of: Void.self) { group in
        for (i, node) in nodes.enumerated() {
            group.addTask {
                for seq in stride(from: i, to: n, by: nodes.count) {
                    let at = clock.now
                    put.value.withLock { $0[seq] = at }
                    _ = await node.inbox.put(Message(from: "bench", text: "seq=\(seq)"), timeout: .seconds(60))
                }
            }
        }
    }
    while nodes.contains(where: { $0.deliveries.count < n }), clock.now - began < .seconds(300) {
        try? await Task.sleep(for: .milliseconds(1))
    }
    let elapsed = clock.now - began
    let sent = put.value.withLock { $0 }
    var latencies: [Duration] = []
    for node in nodes {
        let arrived = node.deliveries.state.withLock { $0.arrived }
        for seq in 0..<n { if let a = arrived[seq], let p = sent[seq] { latencies.append(a - p) } }
    }
    let (p50, p99) = percentiles(latencies)
    return ["messagesPerSecond": String(format: "%.0f", Double(n) / (ms(elapsed) / 1000)), "p50ms": String(format: "%.3f", p50),
            "p99ms": String(format: "%.3f", p99), "problem": check(nodes, messages: n) ?? "none"]
}

func latency(_ nodes: [Instance], messages n: Int) async -> [String: String] {
    let clock = ContinuousClock()
    var latencies: [Duration] = []
    for seq in 0..<n {
        let from = seq % nodes.count
        let at = clock.now
        _ = await nodes[from].inbox.put(Message(from: "bench", text: "seq=\(seq)"), timeout: .seconds(60))
        while nodes.contains(where: { $0.deliveries.state.withLock { $0.arrived[seq] } == nil }) { await Task.yield() }
        for (i, node) in nodes.enumerated() where i != from || nodes.count == 1 {
            if let a = node.deliveries.state.withLock({ $0.arrived[seq] }) { latencies.append(a - at) }
        }
    }
    let (p50, p99) = percentiles(latencies)
    return ["p50ms": String(format: "%.3f", p50), "p99ms": String(format: "%.3f", p99), "problem": check(nodes, messages: n) ?? "none"]
}

let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("postgres.sh").path
let pgDir = NSTemporaryDirectory() + "cluster-bench-\(getpid())"
let url = try shell([script, "start", pgDir])
defer { _ = try? shell([script, "stop", pgDir]); try? FileManager.default.removeItem(atPath: pgDir) }
let count = option("--instances", 3)
let messages = option("--messages", 60_000)
let latencyMessages = option("--latency", 2000)
var results: [String: [String: String]] = [:]
for (name, busURL) in [("one instance, no bus", nil), ("\(count) instances, bus", url)] as [(String, String?)] {
    for scenario in ["throughput", "latency"] {
        let n = scenario == "throughput" ? messages : latencyMessages
        let nodes = try await instances(busURL == nil ? 1 : count, url: busURL, messages: n, table: "bench_\(getpid())_\(scenario)")
        let r = scenario == "throughput" ? await throughput(nodes, messages: n) : await latency(nodes, messages: n)
        print("\(scenario) \(name): " + r.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        results[scenario + " " + name] = r
        for node in nodes { await node.map.stop(); node.reader.cancel() }
    }
}
let names = ["one instance, no bus", "\(count) instances, bus"]
let final = results
func v(_ s: String, _ t: String, _ k: String) -> String { final[s + " " + t]?[k] ?? "—" }
print("\n| figure | " + names.joined(separator: " | ") + " |")
print("|---|---|---|")
print("| \(messages) messages as fast as taken: messages/s delivered by every instance | " + names.map { v("throughput", $0, "messagesPerSecond") }.joined(separator: " | ") + " |")
print("| same run: put→delivery p50 / p99 ms | " + names.map { v("throughput", $0, "p50ms") + " / " + v("throughput", $0, "p99ms") }.joined(separator: " | ") + " |")
print("| one in flight: put→delivery p50 / p99 ms (bus: on the other instances) | " + names.map { v("latency", $0, "p50ms") + " / " + v("latency", $0, "p99ms") }.joined(separator: " | ") + " |")
print("| lost, twice or out of order | " + names.map { v("throughput", $0, "problem") + ", " + v("latency", $0, "problem") }.joined(separator: " | ") + " |")
