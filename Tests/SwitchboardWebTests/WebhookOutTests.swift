import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Switchboard
import SwitchboardTesting
import SwitchboardChannels
import SwitchboardWeb
import Synchronization
import Testing

/// A webhook receiver for the tests: an http-server component with one route whose answers
/// the test decides.
final class Receiver: Sendable {
    struct Hit: Sendable {
        let id: String?
        let timestamp: String?
        let signature: String?
        let body: [UInt8]
        let at: ContinuousClock.Instant
    }

    let map: SystemMap
    let hits = Mutex<[Hit]>([])
    let answer: @Sendable (Int) async -> (Int, HTTPFields)

    /// A receiver on `port` (0: any); `answer` gets the 1-based number of the request.
    static func start(port: Int = 0, answer: @escaping @Sendable (Int) async -> (Int, HTTPFields) = { _ in (204, [:]) }) async throws -> Receiver {
        let system = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests)
            .load(text: #"{"components": {"http": {"type": "http-server", "port": \#(port)}}}"#)
        let r = Receiver(map: SystemMap(system, logger: .tests), answer: answer)
        try await r.map.start()
        let server = try await r.server()
        try server.register(owner: "test", routes: [HTTPRoute(.post, "/hook") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            let h = { (n: String) in request.headers[HTTPField.Name(n)!] }
            let n = r.hits.withLock { hits in
                hits.append(Hit(id: h("webhook-id"), timestamp: h("webhook-timestamp"), signature: h("webhook-signature"),
                                body: Array(body.readableBytesView), at: .now))
                return hits.count
            }
            let (status, headers) = await r.answer(n)
            return Response(status: .init(code: status), headers: headers)
        }])
        return r
    }

    private init(map: SystemMap, answer: @escaping @Sendable (Int) async -> (Int, HTTPFields)) {
        self.map = map
        self.answer = answer
    }

    func server() async throws -> HTTPServerComponent {
        try #require(await map.instance(named: "http") as? HTTPServerComponent)
    }

    func url() async throws -> String { try #require(try await server().baseURL) + "/hook" }
    var port: Int { get async throws { try #require(try await server().boundPort) } }
    var all: [Hit] { hits.withLock { $0 } }
    func stop() async { await map.stop() }
}

/// Waits for `condition`, looking again every millisecond, for up to `limit`; records an issue
/// naming `what` when it never held. (It looked again after a bare `Task.yield()` once, which
/// kept a core busy for every test that waited: in a full run on two cores that starved the
/// very servers whose work was awaited, and timeouts in other tests ran out.)
/// `explain`, when given, says what things looked like when it gave up.
func waitUntil(_ what: String, limit: Duration = .seconds(20), explain: (() async -> String)? = nil, _ condition: () async throws -> Bool) async rethrows {
    let start = ContinuousClock.now
    while try await !condition() {
        if ContinuousClock.now - start > limit {
            let detail: String = await explain?() ?? ""
            Issue.record("gave up waiting for \(what)\(detail.isEmpty ? "" : ": " + detail)")
            return
        }
        try? await Task.sleep(for: .milliseconds(1))
    }
}

@Suite struct WebhookOutTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    static func system(url: String, schedule: String = #"["20ms", "20ms", "20ms"]"#, timeout: String = "5s", concurrency: Int = 2) -> String {
        #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 64},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}},
          "out": {"type": "webhook-out", "using": {"source": "fanout"},
                  "targets": [{"name": "r", "url": "\#(url)", "secret": "\#(secret)", "timeout": "\#(timeout)", "concurrency": \#(concurrency)}],
                  "retry": {"schedule": \#(schedule), "jitter": 0.1}}
        }}
        """#
    }

    func put(_ h: WebHarness, _ text: String) async throws -> String {
        let r = try await h.postJSON("/messages", #"{"from": "t", "text": "\#(text)"}"#)
        #expect(r.status == 202)
        return try #require(r.body["id"]?.stringValue)
    }

    func figures(_ h: WebHarness) async throws -> JSONValue {
        try #require(try await h.map.inspect("out")["figures"])
    }

    @Test func failsTwiceThenSucceedsAndIsDeliveredExactlyOnceMore() async throws {
        let receiver = try await Receiver.start { n in n <= 2 ? (503, [:]) : (200, [:]) }
        let h = try await WebHarness.start(Self.system(url: try await receiver.url()))
        let id = try await put(h, "hello hooks")
        await waitUntil("three attempts") { receiver.all.count >= 3 }
        try await waitUntil("the delivery to count") { try await figures(h)["delivered"] == 1 }
        let hits = receiver.all
        #expect(hits.count == 3)
        let signer = try StandardWebhookSigner(secret: Self.secret)
        for hit in hits {
            #expect(hit.id == id)
            try signer.verify(id: hit.id, timestamp: hit.timestamp, signature: hit.signature, body: hit.body)
            #expect(try JSONParser.parse(hit.body).value["text"] == "hello hooks")
        }
        let f = try await figures(h)
        #expect(f["failed"] == 0)
        #expect(f["retrying"] == 0)
        #expect(f["deadLetters"] == 0)
        #expect(f["targets"]?[0]?["attempts"] == 3)
        await h.stop()
        await receiver.stop()
    }

    @Test func aPrivateMessageGoesOnlyToTargetsThatSayPrivate() async throws {
        let (open, trusted) = (try await Receiver.start(), try await Receiver.start())
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 64},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
              "out": {"type": "webhook-out", "using": {"source": "fanout"}, "targets": [
                {"name": "open", "url": "\#(try await open.url())"},
                {"name": "trusted", "url": "\#(try await trusted.url())", "private": true}]}
            }}
            """#)
        #expect(try await h.postJSON("/messages", #"{"from": "alice", "to": "bob", "text": "psst"}"#).status == 202)
        #expect(try await h.postJSON("/messages", #"{"from": "alice", "text": "after"}"#).status == 202)
        func texts(_ r: Receiver) -> [String] { r.all.compactMap { try? JSONParser.parse($0.body).value["text"]?.stringValue } }
        await waitUntil("both at the trusted target") { texts(trusted).count == 2 }
        await waitUntil("the public one at the open target") { texts(open).contains("after") }
        // Four workers a target by default: the two may arrive in either order.
        #expect(texts(trusted).sorted() == ["after", "psst"])
        #expect(texts(open) == ["after"], "a target without private: true never sees a private message")
        await h.stop()
        await open.stop()
        await trusted.stop()
    }

    @Test func aDownReceiverMakesADeadLetterThatIsRedeliveredWhenItIsBack() async throws {
        // Down: the port refuses connections, and stays ours until the receiver comes back on it.
        let held = try HeldPort()
        let port = held.port
        let url = "http://127.0.0.1:\(port)/hook"
        let h = try await WebHarness.start(Self.system(url: url, schedule: #"["10ms", "10ms"]"#))
        let id = try await put(h, "into the void")
        // Alone this takes about a second; in some full runs it gave up after 20 s: say where it was.
        try await waitUntil("a dead letter", explain: { "\((try? await figures(h)) ?? .null)" }) { try await figures(h)["deadLetters"] == 1 }
        let out = try await h.component("out", as: WebhookOutComponent.self)
        let dead = try await out.console(["dead"])
        #expect(dead.text.contains(id))
        #expect(dead.data[0]?["attempts"] == 3, "\(dead.text)")
        held.release()
        let back = try await Receiver.start(port: port)
        let again = try await out.console(["redeliver", "all"])
        #expect(again.data["requeued"] == 1)
        await waitUntil("the redelivery") { back.all.count == 1 }
        #expect(back.all.first?.id == id)
        try await waitUntil("the delivered count") { try await figures(h)["delivered"] == 1 }
        #expect(try await figures(h)["deadLetters"] == 0)
        // Three failed attempts, then the one that got through; none under way now.
        #expect(try await figures(h)["attempts"] == 4)
        #expect(try await figures(h)["inFlight"] == 0)
        await h.stop()
        await back.stop()
    }

    @Test func aClientErrorIsNotRetried() async throws {
        let receiver = try await Receiver.start { _ in (400, [:]) }
        // 30 s: in a loaded full run the 400 once came back after the 5 s timeout, which is
        // retried — this test is about the 400.
        let h = try await WebHarness.start(Self.system(url: try await receiver.url(), timeout: "30s"))
        _ = try await put(h, "bad request")
        try await waitUntil("a dead letter") { try await figures(h)["deadLetters"] == 1 }
        #expect(receiver.all.count == 1)
        #expect(try await figures(h)["targets"]?[0]?["lastError"]?.stringValue?.contains("HTTP 400") == true)
        await h.stop()
        await receiver.stop()
    }

    @Test func retryAfterIsHonoured() async throws {
        let receiver = try await Receiver.start { n in n == 1 ? (429, [.retryAfter: "1"]) : (204, [:]) }
        let h = try await WebHarness.start(Self.system(url: try await receiver.url()))
        _ = try await put(h, "slow down")
        await waitUntil("the second attempt") { receiver.all.count == 2 }
        let hits = receiver.all
        #expect(hits[1].at - hits[0].at >= .milliseconds(950))
        await h.stop()
        await receiver.stop()
    }

    @Test func aHangingReceiverDoesNotDelaySSESubscribers() async throws {
        let release = Latch<Void>()
        let receiver = try await Receiver.start { _ in
            _ = try? await release.wait()
            return (204, [:])
        }
        let h = try await WebHarness.start(Self.system(url: try await receiver.url(), timeout: "30s"))
        let reader = try await SSEReader(try await h.url("/events"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        var ids: [String] = []
        for i in 0..<50 { ids.append(try await put(h, "m\(i)")) }
        var got: [String] = []
        for _ in 0..<50 { got.append(try #require(try await reader.next()?.id)) }
        #expect(got == ids)
        // All the while the receiver holds both of the target's workers.
        #expect(try await figures(h)["targets"]?[0]?["inFlight"] == 2)
        #expect(try await figures(h)["delivered"] == 0)
        release.resolve(.success(()))
        try await waitUntil("the backlog to drain") { try await figures(h)["delivered"] == 50 }
        await h.stop()
        await receiver.stop()
    }

    /// A target restarted by a reload (its concurrency changed) sends again what it had in
    /// hand; dead letters from before stay dead letters (they were once all taken and lost).
    @Test func aTargetRestartKeepsEarlierDeadLetters() async throws {
        let down = try await Receiver.start()
        let url = try await down.url()
        await down.stop()
        let h = try await WebHarness.start(Self.system(url: url, schedule: #"["10ms", "10ms"]"#))
        let id = try await put(h, "into the void")
        try await waitUntil("a dead letter") { try await figures(h)["deadLetters"] == 1 }
        let json = Self.system(url: url, schedule: #"["10ms", "10ms"]"#, concurrency: 3)
        let built = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: json, wiring: h.map.sharedWiring)
        #expect(await h.map.reload(to: built).ok)
        #expect(try await figures(h)["deadLetters"] == 1)
        let out = try await h.component("out", as: WebhookOutComponent.self)
        #expect(try await out.console(["dead"]).text.contains(id))
        await h.stop()
    }

    @Test func targetsChangeByReloadWithoutARestart() async throws {
        let a = try await Receiver.start()
        let b = try await Receiver.start()
        let h = try await WebHarness.start(Self.system(url: try await a.url()))
        let out = try await h.component("out", as: WebhookOutComponent.self)
        _ = try await put(h, "to a")
        await waitUntil("a's delivery") { a.all.count == 1 }
        let json = Self.system(url: try await b.url())
        let built = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: json, wiring: h.map.sharedWiring)
        let outcome = await h.map.reload(to: built)
        #expect(outcome.ok)
        #expect(outcome.plan.entries.first { $0.name == "out" }?.action == .update)
        #expect(try await h.component("out", as: WebhookOutComponent.self) === out)
        _ = try await put(h, "to b")
        await waitUntil("b's delivery") { b.all.count == 1 }
        if b.all.count != 1 { Issue.record("\(try await figures(h)) \(try await out.console(["dead"]).text)") }
        #expect(a.all.count == 1)
        await h.stop()
        await a.stop()
        await b.stop()
    }

    @Test func aSlowTargetDoesNotHoldTheOthers() async throws {
        let release = Latch<Void>()
        let slow = try await Receiver.start { _ in
            _ = try? await release.wait()
            return (204, [:])
        }
        let fast = try await Receiver.start()
        let json = #"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 64},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
              "out": {"type": "webhook-out", "using": {"source": "fanout"}, "queueCapacity": 2,
                      "targets": [{"name": "slow", "url": "\#(try await slow.url())", "concurrency": 1, "timeout": "30s"},
                                  {"name": "fast", "url": "\#(try await fast.url())"}]}
            }}
            """#
        let h = try await WebHarness.start(json)
        // One at a time at the fast target (its queue holds two as well: a publisher faster than
        // the receiver would overflow it too), while the slow one holds the first.
        for i in 0..<10 {
            _ = try await put(h, "m\(i)")
            await waitUntil("message \(i) at the fast target") { fast.all.count == i + 1 }
        }
        // The slow one holds one delivery, queues two, and the rest are dead letters to redeliver.
        try await waitUntil("the slow target's overflow") { try await figures(h)["deadLetters"] == 7 }
        let out = try await h.component("out", as: WebhookOutComponent.self)
        #expect(try await out.console(["dead"]).text.contains("queue was full"))
        release.resolve(.success(()))
        await h.stop()
        await slow.stop()
        await fast.stop()
    }

    @Test func targetMistakesAreConfigErrors() {
        let issues = TestSystemsWeb.issues(#"""
            {"components": {"i": {"type": "channel"}, "f": {"type": "mult", "using": {"source": "i"}},
              "o": {"type": "webhook-out", "using": {"source": "f"},
                    "targets": ["ftp://x", {"url": "http://ok", "secret": "nope!"}, {"uri": "http://x"}]}}}
            """#)
        let paths = Set(issues.map(\.path.description))
        #expect(paths.contains("components.o.targets[0]"))
        #expect(paths.contains("components.o.targets[1].secret"))
        #expect(paths.contains("components.o.targets[2].url"))
        #expect(paths.contains("components.o.targets[2].uri"))
    }
}

enum TestSystemsWeb {
    static func issues(_ json: String) -> [ConfigIssue] {
        do {
            _ = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: json)
            return []
        } catch {
            return error.issues
        }
    }
}
