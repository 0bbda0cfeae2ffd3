import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// A graceful shutdown under load: inputs refuse first, what was accepted reaches the
/// connected subscribers, then everything stops.
@Suite struct DrainTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 256},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "publish": {"type": "publish", "wait": "50ms", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "history": 10000, "using": {"server": "http", "source": "fanout"}}
        }}
        """#

    @Test func shutdownUnderLoadDeliversEverythingThatGot202() async throws {
        let h = try await WebHarness.start(Self.system)
        let events = try await h.component("events", as: SSEEndpoint.self)
        let url = try await h.url("/messages")
        let reader = try await SSEReader(try await h.url("/events"))
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        let reading = Task { () -> [String] in
            var ids: [String] = []
            while let e = try await reader.next() { if let id = e.id { ids.append(id) } }
            return ids
        }
        let accepted = ManagedStatuses()
        let publishers = (0..<6).map { p in
            Task {
                var ids: [String] = []
                for i in 0..<10_000 {
                    var req = HTTPClientRequest(url: url)
                    req.method = .POST
                    req.headers.add(name: "Content-Type", value: "text/plain")
                    req.body = .bytes(ByteBuffer(string: "p\(p) m\(i)"))
                    guard let res = try? await HTTPClient.shared.execute(req, timeout: .seconds(10)),
                        let body = try? await res.body.collect(upTo: 1 << 16)
                    else { break }
                    accepted.add(Int(res.status.code))
                    if res.status.code == 202, let id = try? JSONParser.parse(String(buffer: body)).value["id"]?.stringValue { ids.append(id) }
                    if res.status.code != 202 { break }  // refused: the shutdown has begun
                }
                return ids
            }
        }
        await waitUntil("300 accepted", limit: .seconds(120)) { accepted.all.count >= 300 }
        let report = await h.map.shutdown(drainFor: .seconds(5))
        #expect(report.errors.isEmpty)
        var sent: [String] = []
        for p in publishers { sent += await p.value }
        let got = try await reading.value
        #expect(sent.count >= 300)
        #expect(Set(sent).subtracting(got).isEmpty, "\(Set(sent).subtracting(got).count) of \(sent.count) accepted messages never reached the subscriber")
        // The refusals during the drain were 503s (never a 404 or a reset of an accepted message).
        #expect(accepted.all.allSatisfy { $0 == 202 || $0 == 503 })
    }
}
