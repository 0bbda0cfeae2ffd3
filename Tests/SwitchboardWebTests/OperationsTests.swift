import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import SwitchboardWeb
import Testing

/// Metrics and health probes through real sockets; the exposition is checked by
/// prometheus_client's own parser.
@Suite struct OperationsTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    static let system = #"""
        {"name": "ops", "components": {
          "inbox": {"type": "channel", "buffer": {"size": 64}},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}},
          "ops": {"type": "http-server", "port": 0},
          "metrics": {"type": "metrics", "using": {"server": "ops"}},
          "health": {"type": "health", "using": {"server": "ops"}}
        }}
        """#

    struct Scrape {
        let families: [String: String]
        let samples: [(name: String, labels: [String: String], value: Double)]

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
        }
    }

    /// GET /metrics, parsed by prometheus_client (which fails on an invalid exposition).
    func scrape(_ h: WebHarness) async throws -> Scrape {
        let r = try await h.request(.GET, "/metrics", server: "ops")
        #expect(r.status == 200)
        #expect(r.headers.first(name: "content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let file = try temporaryDirectory() + "/metrics.txt"
        try r.body.write(toFile: file, atomically: true, encoding: .utf8)
        let p = try LiveProcess("/usr/bin/env", ["python3", Self.here.appendingPathComponent("Metrics/parse_metrics.py").path, file])
        let status = await p.waitForExit()
        try #require(status == 0, "prometheus_client refused the exposition: \(p.text)\n\(r.body)")
        let parsed = try JSONParser.parse(p.text).value
        var families: [String: String] = [:]
        for (k, v) in parsed["families"]?.objectValue ?? JSONObject() { families[k] = v.stringValue }
        let samples = (parsed["samples"]?.arrayValue ?? []).compactMap { s -> (String, [String: String], Double)? in
            guard let a = s.arrayValue, a.count == 3, let name = a[0].stringValue, let value = a[2].doubleValue else { return nil }
            var labels: [String: String] = [:]
            for (k, v) in a[1].objectValue ?? JSONObject() { labels[k] = v.stringValue }
            return (name, labels, value)
        }
        return Scrape(families: families, samples: samples)
    }

    @Test func metricsCountAKnownFlowAndParseAsPrometheusText() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let n = 25, m = 3
        var readers: [SSEReader] = []
        for _ in 0..<m { readers.append(try await SSEReader(try await h.url("/events"))) }
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("\(m) subscribers", limit: .seconds(120)) { events.subscriberCount >= m }
        // A tap on the mult that leaves before the scrape: its deliveries still count.
        let fanout = try await h.component("fanout", as: MultComponent.self)
        let tail = try fanout.tail(capacity: 100)
        for i in 0..<n { #expect(try await h.postJSON("/messages", #"{"text": "m\#(i)"}"#).status == 202) }
        for r in readers { for _ in 0..<n { _ = try await r.next() } }
        for _ in 0..<n { _ = await tail.chan.receive() }
        tail.cancel()
        #expect(try await h.postJSON("/messages", #"{"text": 5}"#).status == 400)

        let s = try await scrape(h)
        #expect(s.families["switchboard_publish_requests"] == "counter")
        #expect(s.value("switchboard_publish_requests_total", ["component": "publish", "result": "accepted"]) == Double(n))
        #expect(s.value("switchboard_publish_requests_total", ["result": "rejected"]) == 1)
        #expect(s.value("switchboard_channel_puts_total", ["component": "inbox"]) == Double(n))
        #expect(s.value("switchboard_sse_delivered_total", ["component": "events"]) == Double(n * m))
        #expect(s.value("switchboard_sse_subscribers", ["component": "events"]) == Double(m))
        #expect(s.value("switchboard_mult_tap_delivered_total", ["component": "fanout"]) == Double(n))
        // Every delivery of the mult: the taps' and its listener's (the SSE endpoint).
        #expect(s.value("switchboard_mult_delivered_total", ["component": "fanout"]) == Double(2 * n))
        #expect(s.value("switchboard_mult_taps", ["component": "fanout"]) == 0)
        #expect(s.value("switchboard_channel_capacity_messages", ["component": "inbox"]) == 64)
        #expect(s.value("switchboard_component_state", ["component": "fanout", "state": "running"]) == 1)
        #expect(s.value("switchboard_component_state", ["component": "fanout", "state": "stopped"]) == 0)
        #expect(s.value("switchboard_build_info", ["version": Switchboard.version]) == 1)
        // Latency: a histogram (in seconds) counting at least these requests (the registry is
        // per process, shared with other tests' publish endpoints of the same name).
        #expect(s.families["switchboard_publish_duration_seconds"] == "histogram")
        #expect((s.value("switchboard_publish_duration_seconds_count", ["component": "publish"]) ?? 0) >= Double(n + 1))

        // Counters keep counting from scrape to scrape; reloads are counted by outcome.
        #expect(try await h.postJSON("/messages", #"{"text": "one more"}"#).status == 202)
        let same = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: Self.system, wiring: h.map.sharedWiring)
        #expect(await h.map.reload(to: same).ok)
        let again = try await scrape(h)
        #expect(again.value("switchboard_publish_requests_total", ["result": "accepted"]) == Double(n + 1))
        #expect(again.value("switchboard_system_reloads_total", ["outcome": "unchanged"]) == 1)
        #expect(again.value("switchboard_system_reloads_total", ["outcome": "applied"]) == 0)
    }

    @Test func readinessFollowsTheComponentsAndTurnsFirstWhenDraining() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        #expect(try await h.request(.GET, "/healthz", server: "ops").status == 200)
        var r = try await h.request(.GET, "/readyz", server: "ops")
        #expect(r.status == 200)
        try await h.map.stop("events")
        r = try await h.request(.GET, "/readyz", server: "ops")
        #expect(r.status == 503)
        let body = try JSONParser.parse(r.body).value
        #expect(body["components"]?.arrayValue?.contains { $0["name"] == "events" && $0["state"] == "stopped" } == true)
        try await h.map.start("events")
        #expect(try await h.request(.GET, "/readyz", server: "ops").status == 200)
        // A graceful stop drains every component first: readiness says 503 from then on.
        let health = try await h.component("health", as: HealthEndpoint.self)
        await health.drain(until: .now + .seconds(1))
        #expect(try await h.request(.GET, "/readyz", server: "ops").status == 503)
        #expect(try await h.request(.GET, "/healthz", server: "ops").status == 200)
    }

    @Test func readinessTurns503FirstWhenTheLiveBinaryGetsSIGTERM() async throws {
        // A channel nobody takes from: its drain holds the stop for a while (shutdownTimeout/2),
        // and meanwhile everything still runs — except that readiness says "stopping".
        let dir = try temporaryDirectory()
        try #"""
            {"name": "probe", "shutdownTimeout": "4s", "components": {
              "inbox": {"type": "channel", "buffer": {"size": 8}},
              "http": {"type": "http-server", "port": 0},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
              "health": {"type": "health", "using": {"server": "http"}}
            }}
            """#.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { p.terminate() }
        let base = try #require(await p.listeningURL())
        #expect(await p.waitFor(#"system "probe" running"#))
        let get = { (path: String) async throws -> (Int, String) in
            let res = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + path), timeout: .seconds(5))
            return (Int(res.status.code), String(buffer: try await res.body.collect(upTo: 1 << 16)))
        }
        #expect(try await get("/readyz").0 == 200)
        var req = HTTPClientRequest(url: base + "/messages")
        req.method = .POST
        req.body = .bytes(ByteBuffer(string: "left in the channel"))
        #expect(try await HTTPClient.shared.execute(req, timeout: .seconds(5)).status.code == 202)
        p.signal(SIGTERM)
        var seen: [String] = []
        while seen.last?.hasPrefix("503") != true {
            do {
                let (status, body) = try await get("/readyz")
                seen.append("\(status) \(body)")
            } catch {
                seen.append("error: \(error)")
                break
            }
        }
        #expect(seen.last?.hasPrefix("503") == true && seen.last?.contains("stopping") == true, "\(seen.suffix(3))")
        #expect(await p.waitForExit() != nil)
    }
}
