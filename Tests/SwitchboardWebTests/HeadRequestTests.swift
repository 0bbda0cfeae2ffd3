import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// Hostile HTTP at the SSE endpoint.
@Suite struct HeadRequestTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 8},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0, "requestBodyLimit": 1024},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}}
        }}
        """#

    @Test func headOnTheStreamDoesNotSubscribe() async throws {
        let h = try await WebHarness.start(Self.system)
        let r = try await h.request(.HEAD, "/events")
        #expect(r.status == 200)
        #expect(try await h.component("events", as: SSEEndpoint.self).subscriberCount == 0)
        await h.stop()
    }
}

