import AsyncHTTPClient
import Foundation
import NIOCore
import Logging
import Switchboard
import SwitchboardTesting
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// Reloads that restart the channel and the SSE endpoint while messages flow:
/// nothing that got a 202 is lost, and publishers never see a 404.
@Suite struct RestartUnderLoadTests {
    static func system(inbox: Int, retry: Int, maxConnections: Int) -> String {
        #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": \#(inbox)},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0, "maxConnections": \#(maxConnections)},
          "publish": {"type": "publish", "wait": "50ms", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "retry": \#(retry), "history": 5000, "using": {"server": "http", "source": "fanout"}}
        }}
        """#
    }

    /// The server's URL, or nil while it restarts (without recording an issue).
    static func url(_ h: WebHarness, _ path: String) async -> String? {
        (await h.map.instance(named: "http") as? HTTPServerComponent)?.baseURL.map { $0 + path }
    }

    func reload(_ h: WebHarness, _ json: String) async throws -> ReloadOutcome {
        let built = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: json, wiring: h.map.sharedWiring)
        return await h.map.reload(to: built)
    }

    /// Reads the stream, reconnecting with `Last-Event-ID` whenever it ends, until cancelled.
    ///
    /// Its own client gives up at once on a refused connection: AsyncHTTPClient otherwise keeps
    /// retrying the old server's port (now closed) with backoff until its connect timeout, and
    /// the reader would come back to the new server too late for the test (seen with `ss`: no
    /// connection open, the reader still "connecting" to the old port).
    final class ResumingReader: @unchecked Sendable {
        let client: HTTPClient = {
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.timeout.connect = .seconds(1)
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        }()
        private let lock = NSLock()
        private var seen: [String] = []
        private var gapCount = 0
        private var connectionCount = 0
        var ids: [String] { lock.withLock { seen } }
        var gaps: Int { lock.withLock { gapCount } }
        var connections: Int { lock.withLock { connectionCount } }

        func run(_ h: WebHarness) async {
            while !Task.isCancelled {
                guard let url = await RestartUnderLoadTests.url(h, "/events") else { await Task.yield(); continue }
                let headers = ids.last.map { [("Last-Event-ID", $0)] } ?? []
                guard let reader = try? await SSEReader(url, headers: headers, client: client), reader.status == 200 else { await Task.yield(); continue }
                lock.withLock { connectionCount += 1 }
                while !Task.isCancelled, let e = try? await reader.next() {
                    lock.withLock {
                        if e.event == "gap" { gapCount += 1 }
                        if e.event == "message", let id = e.id { seen.append(id) }
                    }
                }
            }
        }
    }

    @Test
    func aRestartReloadUnderLoadLosesNothingThatGot202() async throws {
        let h = try await WebHarness.start(Self.system(inbox: 64, retry: 1000, maxConnections: 1000))
        let events = try await h.component("events", as: SSEEndpoint.self)
        let reader = ResumingReader()
        let reading = Task { await reader.run(h) }
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }

        let statuses = ManagedStatuses()
        let publisher = Task { () -> [String] in
            var accepted: [String] = []
            var i = 0
            while i < 900 {
                // While the server restarts there is no URL, or the connection is refused: try again.
                guard let url = await Self.url(h, "/messages") else { await Task.yield(); continue }
                var req = HTTPClientRequest(url: url)
                req.method = .POST
                req.headers.add(name: "Content-Type", value: "text/plain")
                req.body = .bytes(.init(string: "m\(i)"))
                // A request cut off by a restarting server may never finish: bound the whole
                // exchange, and count it as not accepted (the publisher tries again).
                let request = req
                let exchange = await withDeadline(.seconds(5)) { () -> (HTTPClientResponse, ByteBuffer)? in
                    guard let res = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)),
                        let body = try? await res.body.collect(upTo: 1 << 16)
                    else { return nil }
                    return (res, body)
                }
                guard let (res, body) = exchange ?? nil else { await Task.yield(); continue }
                i += 1
                statuses.add(Int(res.status.code))
                if res.status.code == 202, let id = try? JSONParser.parse(String(buffer: body)).value["id"]?.stringValue { accepted.append(id) }
            }
            return accepted
        }
        // Restart the SSE endpoint, the channel (with its dependents) and the server (with
        // every endpoint), each a few times.
        let plans = [
            Self.system(inbox: 64, retry: 1001, maxConnections: 1000), Self.system(inbox: 65, retry: 1001, maxConnections: 1000),
            Self.system(inbox: 65, retry: 1001, maxConnections: 1001), Self.system(inbox: 65, retry: 1002, maxConnections: 1001),
            Self.system(inbox: 66, retry: 1002, maxConnections: 1001), Self.system(inbox: 66, retry: 1002, maxConnections: 1002),
            Self.system(inbox: 66, retry: 1003, maxConnections: 1002), Self.system(inbox: 67, retry: 1003, maxConnections: 1002),
            Self.system(inbox: 67, retry: 1003, maxConnections: 1003),
        ]
        for plan in plans {
            // Each reload lands in the middle of the traffic.
            let before = statuses.all.count
            await waitUntil("40 more answers", limit: .seconds(120)) { statuses.all.count >= before + 40 }
            let outcome = try await reload(h, plan)
            #expect(outcome.ok, "\(outcome.failure.map { "\($0)" } ?? "")")
            #expect(outcome.plan.entries.contains { $0.action == .restart })
            await Task.yield()
        }
        let accepted = await publisher.value
        #expect(accepted.count > 100, "\(Dictionary(statuses.all.map { ($0, 1) }, uniquingKeysWith: +))")
        // One more message, after all the others: once it arrives, everything before it has.
        let last = try await h.postJSON("/messages", #"{"text": "end"}"#)
        let lastID = try #require(last.body["id"]?.stringValue)
        // (It may reach the reader before the answer reaches us: wait for it, bounded.)
        await waitUntil("the last message to reach the reader", limit: .seconds(10)) { reader.ids.contains(lastID) }
        reading.cancel()
        // Shutting the client down ends the stream the reader is on.
        try await reader.client.shutdown()
        await reading.value
        #expect(Set(accepted).subtracting(reader.ids).isEmpty, "lost \(Set(accepted).subtracting(reader.ids).count) of \(accepted.count)")
        #expect(reader.gaps == 0)
        #expect(reader.connections > 1)
        // A publisher only ever heard 202 or 503 (or could not connect while the server restarted): never 404.
        #expect(!statuses.all.contains(404))
        await h.stop()
    }
}

final class ManagedStatuses: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Int] = []
    var all: [Int] { lock.withLock { list } }
    func add(_ s: Int) { lock.withLock { list.append(s) } }
}
