import Foundation
import Logging
import Switchboard
import SwitchboardTesting
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// Reloads on a live web system: what the plan does not touch keeps running and keeps its
/// connections.
@Suite struct ReloadWebTests {
    static func system(extraEndpoint: Bool, oldEndpoint: Bool, sideBuffer: Int, heartbeat: String, extraServerPort: Int? = nil) -> String {
        var parts = [
            #""inbox": {"type": "channel", "buffer": 64}"#,
            #""fanout": {"type": "mult", "using": {"source": "inbox"}}"#,
            #""http": {"type": "http-server", "port": 0}"#,
            #""publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}}"#,
            #""events": {"type": "sse", "heartbeat": "\#(heartbeat)", "using": {"server": "http", "source": "fanout"}}"#,
            #""side": {"type": "channel", "buffer": \#(sideBuffer)}"#,
            #""side-mult": {"type": "mult", "using": {"source": "side"}}"#,
        ]
        if oldEndpoint { parts.append(#""old-endpoint": {"type": "publish", "path": "/old", "using": {"server": "http", "channel": "side"}}"#) }
        if extraEndpoint { parts.append(#""extra": {"type": "publish", "path": "/extra", "using": {"server": "http", "channel": "inbox"}}"#) }
        if let port = extraServerPort { parts.append(#""http2": {"type": "http-server", "port": \#(port)}"#) }
        return #"{"components": {"# + parts.joined(separator: ",\n") + "}}"
    }

    func reload(_ h: WebHarness, _ json: String, logger: Logger = .tests) async throws -> ReloadOutcome {
        let built = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: logger).load(text: json, wiring: h.map.sharedWiring)
        return await h.map.reload(to: built)
    }

    @Test func anSSESubscriberOnAnUntouchedChainMissesNothingAcrossReloads() async throws {
        let h = try await WebHarness.start(Self.system(extraEndpoint: false, oldEndpoint: true, sideBuffer: 4, heartbeat: "15s"))
        defer { Task { await h.stop() } }
        let reader = try await SSEReader(try await h.url("/events"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        let total = 300
        // Messages flow before, during and after the reloads.
        let publisher = Task { () -> [String] in
            var ids: [String] = []
            for i in 0..<total {
                let r = try await h.postJSON("/messages", #"{"from": "p", "text": "m\#(i)"}"#)
                guard r.status == 202, let id = r.body["id"]?.stringValue else { throw CancellationError() }
                ids.append(id)
            }
            return ids
        }
        let plans = [
            Self.system(extraEndpoint: true, oldEndpoint: false, sideBuffer: 8, heartbeat: "10s"),
            Self.system(extraEndpoint: true, oldEndpoint: true, sideBuffer: 16, heartbeat: "12s"),
            Self.system(extraEndpoint: true, oldEndpoint: false, sideBuffer: 4, heartbeat: "15s"),
        ]
        var outcomes: [ReloadOutcome] = []
        for plan in plans { outcomes.append(try await reload(h, plan)) }
        let ids = try await publisher.value
        var got: [String] = []
        while got.count < total, let e = try await reader.next() {
            #expect(e.event == "message")
            got.append(e.id ?? "")
        }
        #expect(got == ids)
        // Every reload really changed things next to the stream.
        #expect(outcomes.allSatisfy { $0.ok })
        let first = Dictionary(uniqueKeysWithValues: outcomes[0].plan.entries.map { ($0.name, $0.action) })
        #expect(first["extra"] == .add)
        #expect(first["old-endpoint"] == .remove)
        #expect(first["side"] == .restart)
        #expect(first["side-mult"] == .restart)
        #expect(first["events"] == .update)
        #expect(first["http"] == .unchanged)
        #expect(first["inbox"] == .unchanged)
        // The endpoint added to the running server answers; the removed one is gone.
        #expect(try await h.postJSON("/extra", #"{"text": "via the new endpoint"}"#).status == 202)
        #expect(try await h.request(.POST, "/old", headers: [("Content-Type", "text/plain")], body: "x").status == 404)
        #expect(try await reader.next()?.data.contains("via the new endpoint") == true)
    }

    @Test func aSecondServerOnATakenPortRollsBackAndTheOldSystemServes() async throws {
        let base = Self.system(extraEndpoint: false, oldEndpoint: false, sideBuffer: 4, heartbeat: "15s")
        let h = try await WebHarness.start(base, logger: .expectingFailures)
        defer { Task { await h.stop() } }
        let reader = try await SSEReader(try await h.url("/events"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        let port = try #require(try await h.component("http", as: HTTPServerComponent.self).boundPort)
        let taken = Self.system(extraEndpoint: true, oldEndpoint: false, sideBuffer: 8, heartbeat: "15s", extraServerPort: port)
        let outcome = try await reload(h, taken, logger: .expectingFailures)
        #expect(!outcome.ok)
        guard case .start(let failure)? = outcome.failure else { Issue.record("not a start failure"); return }
        #expect(failure.component == "http2" && failure.error is BindFailure)
        #expect(await h.map.names.contains("http2") == false)
        #expect(await h.map.spec.component("side")?.config["buffer"] == 4)
        #expect(await h.map.systemState == .running)
        // The old system serves, and the stream that was open is still open.
        let r = try await h.postJSON("/messages", #"{"text": "after the rollback"}"#)
        #expect(r.status == 202)
        #expect(try await reader.next()?.id == r.body["id"]?.stringValue)
        #expect(try await h.request(.POST, "/extra", headers: [("Content-Type", "text/plain")], body: "x").status == 404)
    }

    @Test func anInvalidFileChangesNothing() async throws {
        let h = try await WebHarness.start(Self.system(extraEndpoint: false, oldEndpoint: false, sideBuffer: 4, heartbeat: "15s"))
        defer { Task { await h.stop() } }
        let wiring = h.map.sharedWiring
        #expect(throws: ConfigErrors.self) {
            _ = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: #"{"components": {"x": {"type": "nope"}}}"#, wiring: wiring)
        }
        #expect(await h.map.names.count == 7)
        #expect(await h.map.systemState == .running)
    }
}
