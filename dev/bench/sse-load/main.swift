// SSE fan-out load: Switchboard (release build) against nginx + nchan, in one run.
//
//   swift build -c release --product switchboard && swift build -c release --product sse-load
//   .build/release/sse-load [--subscribers 1000] [--messages 3000] [--idle 5000,19000] [--only switchboard|nchan|metrics]
//   (--only metrics: Switchboard without and with a metrics endpoint scraped every second)
//   (--only auth: the same system without and with an auth component on publish and sse)
//   (--only executor: Switchboard on NIO's event loops against Swift's own pool)
//   (--pin: each server on core 0 (taskset), this load generator on the other cores; the table
//    says "pinned". Without it the servers and the load generator share every core. With
//    --only cluster the instances are pinned, their PostgreSQL is not.)
//   (--rounds N: every scenario N times, the targets alternating; the table shows medians)
//   (--baseline PATH: also an earlier switchboard binary, e.g. a copy of the last release build,
//    so that before and after come from one run)
//   (--floor: also nio-floor, SwiftNIO's least per message, over NIO's HTTP/1 pipeline and over
//    bytes split by hand — build it with --product nio-floor; only the raw one takes WebSocket
//    subscribers)
//   (--only cluster: one instance without a bus against clusters sharing a bus on PostgreSQL,
//    --instances 2,3 of them (the default); --baseline PATH adds the same clusters of an earlier
//    binary; --bus-messages N and --bus-publishers N (32) for the bus throughput run)
//
// Scenarios, each run against both servers:
//   throughput  N subscribers, publishing as fast as delivery allows (a window of messages
//               not yet delivered to everyone): deliveries/s, server CPU per delivery.
//   latency     100 subscribers (--latency-subscribers N), one message in flight: publish→receive
//               p50/p99, CPU per delivery (with 1 subscriber: what one publish costs).
//   chat        1,000 subscribers at 50 messages/s (chat-like): CPU per delivery, p50/p99.
//   idle        N idle subscribers (each of --idle): server RSS per subscriber. 19,000, not
//               20,000: the open-files hard limit here is 20,000 and cannot be raised.
//   chatws      the chat scenario with WebSocket subscribers (nchan's `nchan_subscriber websocket`).
//   latencyws   the latency scenario with WebSocket subscribers.
//   idlews      --idle-ws N (5,000) idle WebSocket subscribers (raw upgrade requests; nchan's
//               `nchan_subscriber websocket`): server RSS per subscriber.
//   churn(ws)   --churn N (10,000) SSE (WebSocket) subscribers connecting and going, 100 at a
//               time: server RSS growth (a leak per connection shows here).
// Every scenario counts lost and duplicated deliveries.
import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOPosix

await SSELoad(arguments: CommandLine.arguments).main()

struct SSELoad {
    let args: [String]
    init(arguments: [String]) { args = arguments }

    func option(_ name: String, _ fallback: Int) -> Int {
        guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
        return v
    }

    func main() async {
        raiseFileLimit()
        if args.contains("--pin") {
            Pinning.enabled = true
            Pinning.pinSelf()
        }
        let subscribers = option("--subscribers", 1000)
        let messages = option("--messages", 3000)
        let idleCounts = (args.firstIndex(of: "--idle").flatMap { args.indices.contains($0 + 1) ? args[$0 + 1] : nil } ?? "5000,19000")
            .split(separator: ",").compactMap { Int($0) }
        let latencyMessages = option("--latency-messages", 1000)
        let only = args.firstIndex(of: "--only").flatMap { args.indices.contains($0 + 1) ? args[$0 + 1] : nil }
        let dir = NSTemporaryDirectory() + "sse-load-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var targets: [Target] = []
        do {
            if only == nil || only == "switchboard" || only == "metrics" || only == "cluster" || only == "executor" { targets.append(try await Target.switchboard(dir: dir)) }
            if only == "cluster" {
                // --instances 2,3: a cluster of each size (one instance per core, and one more).
                let sizes = (args.firstIndex(of: "--instances").flatMap { args.indices.contains($0 + 1) ? args[$0 + 1] : nil } ?? "2,3")
                    .split(separator: ",").compactMap { Int($0) }
                let baseline = args.firstIndex(of: "--baseline").flatMap { args.indices.contains($0 + 1) ? args[$0 + 1] : nil }
                for (k, n) in sizes.enumerated() {
                    targets.append(try await Target.cluster(dir: dir, instances: n, firstPort: 18180 + 10 * k))
                    if let baseline { targets.append(try await Target.cluster(dir: dir, instances: n, firstPort: 18280 + 10 * k, baseline: baseline)) }
                }
            }
            if only == "auth" {
                targets.append(try await Target.switchboard(dir: dir))
                targets.append(try await Target.switchboard(dir: dir, port: 18082, auth: true))
            }
            if only == "executor" { targets.append(try await Target.switchboard(dir: dir, port: 18083, swiftExecutor: true)) }
            if only == "metrics" { targets.append(try await Target.switchboard(dir: dir, port: 18081, metricsPort: 19090)) }
            if only != "cluster", let baseline = args.firstIndex(of: "--baseline").flatMap({ args.indices.contains($0 + 1) ? args[$0 + 1] : nil }) {
                targets.append(try await Target.switchboard(dir: dir, port: 18084, baseline: baseline))
            }
            if only == nil || only == "nchan" { targets.append(try await Target.nchan(dir: dir)) }
            if args.contains("--floor") {
                targets.append(try await Target.nioFloor("http1", port: 18085))
                targets.append(try await Target.nioFloor("raw", port: 18086))
            }
        } catch {
            print("could not start the servers: \(error)")
            targets.forEach { $0.stop() }
            exit(1)
        }
        defer { targets.forEach { $0.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var results: [String: [String: String]] = [:]
        var run = Int(getpid()) * 10
        let churn = option("--churn", 10_000)
        // With --only metrics: the same system with and without a metrics endpoint that is
        // scraped every second (Prometheus' usual interval is 15 s) through the run.
        let scraper = only == "metrics" ? Task {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            while !Task.isCancelled {
                if let res = try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:19090/metrics"), timeout: .seconds(10)) {
                    _ = try? await res.body.collect(upTo: 16 << 20)
                }
                try? await Task.sleep(for: .seconds(1))
            }
            try? await client.shutdown()
        } : nil
        defer { scraper?.cancel() }
        let allScenarios =
            only == "metrics" || only == "auth" ? ["throughput", "latency"]
            : only == "cluster" ? ["bus", "throughput", "latency", "paced"]
            : ["throughput", "latency", "latencyws", "chat", "chatws"] + idleCounts.map { "idle\($0)" } + ["idlews", "churn", "churnws"]
        // --scenarios a,b: only those (e.g. chat,latency, while profiling).
        let picked = args.firstIndex(of: "--scenarios").flatMap { args.indices.contains($0 + 1) ? args[$0 + 1].split(separator: ",").map(String.init) : nil }
        let scenarios = picked.map { p in allScenarios.filter { p.contains($0) || p.contains("idle") && $0.hasPrefix("idle") } } ?? allScenarios
        // --rounds N: each scenario N times, the targets alternating within every round (the
        // machine's drift hits both alike); the table shows each target's median run.
        let rounds = max(1, option("--rounds", 1))
        var runs: [String: [[String: String]]] = [:]
        for scenario in scenarios {
            for round in 0..<rounds {
            // Memory is measured once, first: a process keeps what it freed, so a second
            // idle round would measure reuse, not what a subscriber costs.
            if round > 0, scenario.hasPrefix("idle") || scenario == "churn" { continue }
            for target in (round % 2 == 0 ? targets : targets.reversed()) {
                if scenario.hasSuffix("ws"), target.webSocketPath == nil { continue }
                run += 1
                let r: [String: String]
                switch scenario {
                case "throughput": r = await throughput(target, run: run, subscribers: subscribers, messages: messages, window: 64, group: group)
                case "latency": r = await throughput(target, run: run, subscribers: only == "cluster" ? subscribers : option("--latency-subscribers", 100), messages: latencyMessages, window: 1, group: group)
                case "latencyws": r = await throughput(target, run: run, subscribers: option("--latency-subscribers", 100), messages: latencyMessages, window: 1, group: group,
                                                       webSocket: true)
                // Messages through the bus as fast as it takes them: one subscriber per instance.
                case "bus": r = await throughput(target, run: run, subscribers: target.ports.count, messages: option("--bus-messages", 30_000), window: 4096, group: group, publishers: option("--bus-publishers", 32))
                // Chat-like: 100 messages/s to every subscriber.
                case "paced": r = await throughput(target, run: run, subscribers: subscribers, messages: 1000, window: 1, group: group, pace: .milliseconds(10))
                // Chat-like: 50 messages/s to 1,000 subscribers for 10 s.
                case "chat": r = await throughput(target, run: run, subscribers: 1000, messages: option("--chat-messages", 500), window: 1, group: group, pace: .milliseconds(20))
                case "chatws": r = await throughput(target, run: run, subscribers: 1000, messages: option("--chat-messages", 500), window: 1, group: group, pace: .milliseconds(20),
                                                    webSocket: true)
                case "idlews": r = await idleMemory(target, subscribers: option("--idle-ws", 5000), group: group, webSocket: true)
                case let s where s.hasPrefix("idle"): r = await idleMemory(target, subscribers: Int(s.dropFirst(4)) ?? 5000, group: group)
                case "churnws": r = await churnMemory(target, cycles: churn, group: group, webSocket: true)
                default: r = await churnMemory(target, cycles: churn, group: group)
                }
                print("\(scenario) \(target.name): " + r.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
                fflush(nil)
                runs[scenario + " " + target.name, default: []].append(r)
            }
            }
        }
        for (key, all) in runs {
            // The median by the scenario's own figure: deliveries/s, or p50 for one in flight.
            let by = key.hasPrefix("latency") || key.hasPrefix("paced") || key.hasPrefix("chat") ? "p50ms" : key.hasPrefix("idle") ? "kbPerSubscriber" : "deliveriesPerSecond"
            let sorted = all.sorted { Double($0[by] ?? "") ?? 0 < Double($1[by] ?? "") ?? 0 }
            results[key] = sorted[sorted.count / 2]
        }
        print(Pinning.enabled ? "\npinned: every server on core 0, the load generator on the other cores" : "\nunpinned: servers and load generator share every core")
        if only == "cluster" {
            printClusterTable(results, targets: targets.map(\.name), subscribers: subscribers)
        } else {
            printTable(results, targets: targets.map(\.name), subscribers: subscribers, messages: messages, idle: idleCounts)
        }
        try? await group.shutdownGracefully()
    }

    func throughput(_ target: Target, run: Int, subscribers: Int, messages: Int, window: Int, group: MultiThreadedEventLoopGroup,
                    publishers: Int = 4, pace: Duration? = nil, webSocket: Bool = false) async -> [String: String] {
        let state = RunState(run: run, messages: messages, subscribers: subscribers)
        var channels: [any Channel] = []
        do {
            // Spread over the target's instances.
            for (i, port) in target.ports.enumerated() {
                let share = subscribers / target.ports.count + (i < subscribers % target.ports.count ? 1 : 0)
                channels += try await connectSubscribers(share, state: state, group: group, host: target.host, port: port,
                                                         path: webSocket ? target.webSocketPath ?? "/" : target.subscribePath, bearer: target.bearer, webSocket: webSocket)
            }
        } catch {
            return ["error": "\(error)"]
        }
        defer { channels.forEach { $0.close(promise: nil) } }
        try? await Task.sleep(for: .milliseconds(300))
        let cpu0 = target.cpuSeconds()
        let clock = ContinuousClock()
        let t0 = clock.now
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let next = NextSeq()
        await withTaskGroup(of: Void.self) { tasks in
            for _ in 0..<min(publishers, window) {
                tasks.addTask {
                    while let seq = next.take(limit: messages) {
                        await state.wait { seq - state.completed.load(ordering: .relaxed) < window }
                        if let pace { try? await Task.sleep(until: t0 + pace * seq, clock: .continuous) }
                        await target.publish(client, run: run, seq: seq)
                    }
                }
            }
        }
        // Wait for the stragglers: until everything arrived or nothing moved for 10 s.
        var last = -1
        var still = clock.now
        while state.completed.load(ordering: .relaxed) < messages {
            let now = state.received.load(ordering: .relaxed)
            if now != last { last = now; still = clock.now }
            if clock.now - still > .seconds(10) { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = (clock.now - t0)
        let cpu = target.cpuSeconds() - cpu0
        try? await client.shutdown()
        let deliveries = group.next().submit { (state.deliveries, state.duplicates, state.latencies) }
        guard let (count, dups, lat) = try? await deliveries.get() else { return ["error": "no figures"] }
        var h = Histogram<UInt64>(highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
        for l in lat { _ = h.record(l) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return [
            "messagesPerSecond": String(format: "%.0f", Double(state.completed.load(ordering: .relaxed)) / seconds),
            "subscribers": "\(subscribers)", "messages": "\(messages)", "connected": "\(state.connected.load(ordering: .relaxed))",
            "deliveries": "\(count)", "deliveriesPerSecond": String(format: "%.0f", Double(count) / seconds),
            "cpuMicrosPerDelivery": String(format: "%.2f", cpu / Double(max(count, 1)) * 1e6),
            "p50ms": String(format: "%.3f", Double(h.valueAtPercentile(50)) / 1e6),
            "p99ms": String(format: "%.3f", Double(h.valueAtPercentile(99)) / 1e6),
            "lost": "\(subscribers * messages - count)", "duplicated": "\(dups)", "seconds": String(format: "%.2f", seconds),
        ]
    }

    func idleMemory(_ target: Target, subscribers: Int, group: MultiThreadedEventLoopGroup, webSocket: Bool = false) async -> [String: String] {
        try? await Task.sleep(for: .seconds(1))
        let before = target.rssKB()
        let state = RunState(run: 0, messages: 1, subscribers: subscribers)
        let channels: [any Channel]
        do {
            channels = try await connectSubscribers(subscribers, state: state, group: group, host: target.host, port: target.port,
                                                    path: webSocket ? target.webSocketPath ?? "/" : target.subscribePath, webSocket: webSocket)
        } catch {
            return ["error": "\(error)"]
        }
        try? await Task.sleep(for: .seconds(2))
        let after = target.rssKB()
        channels.forEach { $0.close(promise: nil) }
        try? await Task.sleep(for: .seconds(1))
        return [
            "subscribers": "\(subscribers)", "connected": "\(state.connected.load(ordering: .relaxed))",
            "rssBeforeKB": "\(before)", "rssAfterKB": "\(after)",
            "kbPerSubscriber": String(format: "%.2f", Double(after - before) / Double(subscribers)),
        ]
    }

    /// Connects and disconnects `cycles` subscribers, 100 at a time: RSS before and after.
    func churnMemory(_ target: Target, cycles: Int, group: MultiThreadedEventLoopGroup, webSocket: Bool = false) async -> [String: String] {
        // A first round warms allocator caches so that the comparison is between steady states.
        _ = try? await churnRound(target, count: min(cycles, 1000), group: group, webSocket: webSocket)
        try? await Task.sleep(for: .seconds(1))
        let before = target.rssKB()
        var done = 0
        while done < cycles {
            let n = min(100, cycles - done)
            guard (try? await churnRound(target, count: n, group: group, webSocket: webSocket)) != nil else { return ["error": "connect failed"] }
            done += n
        }
        try? await Task.sleep(for: .seconds(2))
        let after = target.rssKB()
        return ["cycles": "\(cycles)", "rssBeforeKB": "\(before)", "rssAfterKB": "\(after)", "growthKB": "\(after - before)"]
    }

    func churnRound(_ target: Target, count: Int, group: MultiThreadedEventLoopGroup, webSocket: Bool = false) async throws {
        let state = RunState(run: 0, messages: 1, subscribers: count)
        let channels = try await connectSubscribers(count, state: state, group: group, host: target.host, port: target.port,
                                                    path: webSocket ? target.webSocketPath ?? "/" : target.subscribePath, webSocket: webSocket)
        for c in channels { try? await c.close() }
    }

    /// The table, with each target's figure over nchan's (the last target) when nchan ran, or
    /// the first's over the second's when two others ran.
    func printTable(_ r: [String: [String: String]], targets: [String], subscribers: Int, messages: Int, idle: [Int]) {
        func v(_ s: String, _ t: String, _ k: String) -> String { r[s + " " + t]?[k] ?? "—" }
        let over = targets.count >= 2 ? targets.count - 1 : nil
        let ratios = over.map { o in targets.indices.filter { $0 != o && (targets.count == 2 || targets[o] == "nginx+nchan") } } ?? []
        let cols = ratios.map { " | \(targets[$0]) / \(targets[over!])" }.joined()
        print("\n| figure | " + targets.joined(separator: " | ") + cols + " |")
        print("|---|" + targets.map { _ in "---|" }.joined() + ratios.map { _ in "---|" }.joined())
        let one = option("--latency-subscribers", 100)
        var rows: [(String, String, String)] = [
            ("\(subscribers) subscribers, many in flight: deliveries/s", "throughput", "deliveriesPerSecond"),
            ("\(subscribers) subscribers, many in flight: server CPU µs per delivery", "throughput", "cpuMicrosPerDelivery"),
            ("\(one) subscribers, one in flight: p50 latency ms", "latency", "p50ms"),
            ("\(one) subscribers, one in flight: p99 latency ms", "latency", "p99ms"),
            ("\(one) subscribers, one in flight: server CPU µs per delivery", "latency", "cpuMicrosPerDelivery"),
            ("\(one) WebSocket subscribers, one in flight: p50 latency ms", "latencyws", "p50ms"),
            ("\(one) WebSocket subscribers, one in flight: p99 latency ms", "latencyws", "p99ms"),
            ("\(one) WebSocket subscribers, one in flight: server CPU µs per delivery", "latencyws", "cpuMicrosPerDelivery"),
            ("1,000 subscribers at 50 msg/s: server CPU µs per delivery", "chat", "cpuMicrosPerDelivery"),
            ("1,000 subscribers at 50 msg/s: p50 latency ms", "chat", "p50ms"),
            ("1,000 subscribers at 50 msg/s: p99 latency ms", "chat", "p99ms"),
            ("1,000 WebSocket subscribers at 50 msg/s: server CPU µs per delivery", "chatws", "cpuMicrosPerDelivery"),
            ("1,000 WebSocket subscribers at 50 msg/s: p50 latency ms", "chatws", "p50ms"),
            ("1,000 WebSocket subscribers at 50 msg/s: p99 latency ms", "chatws", "p99ms"),
        ]
        rows += idle.map { ("\($0) idle subscribers: RSS KB per subscriber", "idle\($0)", "kbPerSubscriber") }
        rows.append(("\(option("--idle-ws", 5000)) idle WebSocket subscribers: RSS KB per subscriber", "idlews", "kbPerSubscriber"))
        rows.append(("10,000 connect/disconnect cycles: RSS growth KB", "churn", "growthKB"))
        rows.append(("10,000 WebSocket connect/disconnect cycles: RSS growth KB", "churnws", "growthKB"))
        for (label, scenario, key) in rows {
            let cells = targets.map { v(scenario, $0, key) }
            var line = "| \(label) | " + cells.joined(separator: " | ")
            for i in ratios {
                if let a = Double(cells[i]), let b = Double(cells[over!]), b > 0, key != "growthKB" {
                    line += String(format: " | %.2f×", a / b)
                } else {
                    line += " | "
                }
            }
            print(line + " |")
        }
        let runs = ["throughput", "latency", "latencyws", "chat", "chatws"]
        let lost = targets.map { t in runs.map { v($0, t, "lost") }.joined(separator: " / ") }
        let dups = targets.map { t in runs.map { v($0, t, "duplicated") }.joined(separator: " / ") }
        let blank = String(repeating: " | ", count: ratios.count)
        print("| lost (many / one in flight / same over WebSocket / chat / chat over WebSocket) | " + lost.joined(separator: " | ") + blank + " |")
        print("| duplicated (same runs) | " + dups.joined(separator: " | ") + blank + " |")
    }
}

extension SSELoad {
    func printClusterTable(_ r: [String: [String: String]], targets: [String], subscribers: Int) {
        func v(_ s: String, _ t: String, _ k: String) -> String { r[s + " " + t]?[k] ?? "—" }
        print("\n| figure | " + targets.joined(separator: " | ") + " |")
        print("|---|" + targets.map { _ in "---|" }.joined())
        let rows: [(String, String, [String])] = [
            ("messages/s committed and delivered to every instance (1 subscriber each)", "bus", ["messagesPerSecond"]),
            ("same run: publish→delivery p50 / p99 ms", "bus", ["p50ms", "p99ms"]),
            ("\(subscribers) subscribers, one message in flight: p50 / p99 ms", "latency", ["p50ms", "p99ms"]),
            ("\(subscribers) subscribers, 100 messages/s: p50 / p99 ms", "paced", ["p50ms", "p99ms"]),
            ("\(subscribers) subscribers, 100 messages/s: server CPU µs per delivery", "paced", ["cpuMicrosPerDelivery"]),
            ("\(subscribers) subscribers, as fast as delivery allows: deliveries/s", "throughput", ["deliveriesPerSecond"]),
            ("lost / duplicated (every run)", "", []),
        ]
        for (label, scenario, keys) in rows {
            let cells = targets.map { t -> String in
                if keys.isEmpty {
                    let lost = ["bus", "throughput", "latency", "paced"].compactMap { Int(v($0, t, "lost")) }.reduce(0, +)
                    let dups = ["bus", "throughput", "latency", "paced"].compactMap { Int(v($0, t, "duplicated")) }.reduce(0, +)
                    return "\(lost) / \(dups)"
                }
                return keys.map { v(scenario, t, $0) }.joined(separator: " / ")
            }
            print("| \(label) | " + cells.joined(separator: " | ") + " |")
        }
    }
}

/// The next sequence number to publish, shared by the publisher tasks.
final class NextSeq: Sendable {
    private let value = Atomic<Int>(0)
    func take(limit: Int) -> Int? {
        let v = value.add(1, ordering: .relaxed).oldValue
        return v < limit ? v : nil
    }
}

import Synchronization

func raiseFileLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
