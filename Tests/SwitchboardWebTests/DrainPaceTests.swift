import Foundation
import NIOCore
import NIOPosix
import Switchboard
import SwitchboardTesting
import Synchronization
import Testing

/// The staggered drain (Phoenix's socket drainer): an endpoint that stops ends its streams at
/// its `drain` rate, each told to come back (`retry:` with a spread, WebSocket 1012), instead
/// of all at once.
@Suite(.timeLimit(.minutes(2))) struct DrainPaceTests {
    /// Raw SSE clients: each records when its first bytes came and when its connection closed.
    final class Client: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let log: Log
        var text = ""
        init(_ log: Log) { self.log = log }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
        }
        func channelInactive(context: ChannelHandlerContext) {
            // The stream's last event before its end (the chunked body's 0 chunk) is
            // `retry: <ms>`: when to come back.
            let last = text.range(of: "retry: ", options: .backwards).map { text[$0.upperBound...] }
            let ms = last.flatMap { tail in tail.hasSuffix("\n\n\r\n0\r\n\r\n") ? Int(tail.prefix { $0.isNumber }) : nil }
            log.closed(at: .now, retry: ms)
        }
    }

    final class Log: Sendable {
        let state = Mutex<(closes: [ContinuousClock.Instant], retries: [Int])>(([], []))
        func closed(at t: ContinuousClock.Instant, retry: Int?) {
            state.withLock { $0.closes.append(t); if let retry { $0.retries.append(retry) } }
        }
        var closes: [ContinuousClock.Instant] { state.withLock { $0.closes } }
        var retries: [Int] { state.withLock { $0.retries } }
    }

    /// 2,000 streams at 2,000 a second (5,000 at 5,000 took the same second when measured
    /// alone, 2026-12-05; in the full parallel run their connections slowed the tests beside
    /// them, and one PostgreSQL test missed its 5 s connect).
    @Test func streamsEndAtTheConfiguredRate() async throws {
        let count = 2000, rate = 2000
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 64},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0, "maxConnections": 20000},
              "events": {"type": "sse", "retry": 1000, "drain": {"rate": \#(rate), "within": "30s"}, "using": {"server": "http", "source": "fanout"}}
            }}
            """#)
        defer { Task { await h.stop() } }
        let port = try #require(URL(string: try await h.url("/"))?.port)
        let log = Log()
        var channels: [any Channel] = []
        for _ in 0..<count {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { $0.pipeline.addHandler(Client(log)) }
                .connect(host: "127.0.0.1", port: port).get()
            channel.writeAndFlush(ByteBuffer(string: "GET /events HTTP/1.1\r\nHost: t\r\n\r\n"), promise: nil)
            channels.append(channel)
        }
        try await waitUntil("every stream subscribed") { try await h.map.inspect("events")["figures"]?["subscribers"] == .int(count) }
        let start = ContinuousClock.now
        _ = try await h.map.stop("events")
        await waitUntil("every stream closed", limit: .seconds(60)) { log.closes.count == count }
        let closes = log.closes.sorted()
        let spread = try #require(closes.last) - start
        // 2,000 at 2,000 a second: about a second, not all at once (a loaded machine stretches
        // it; it cannot be shorter than the batches allow).
        #expect(spread >= .milliseconds(800), "\(spread)")
        #expect(spread < .seconds(20), "\(spread)")
        // Never faster than the rate: by any moment t after the stop at most rate × t streams
        // (plus a 10 ms batch and timer slack) have ended. A loaded machine can only make the
        // drain later, so this holds however busy CI is (the even-halves check it replaces
        // failed once with the first half slowed: 380 of 2,000 in the first half of 2.5 s).
        let early = closes.enumerated().first { i, c in Double(i + 1) > Double(rate) * ((c - start) / .seconds(1)) + Double(rate / 100) + 100 }
        #expect(early == nil, "stream \(early.map { $0.offset + 1 } ?? 0) ended at \(early.map { $0.element - start } ?? .zero): faster than \(rate)/s")
        // Each stream said when to come back: between one and two of the endpoint's `retry`,
        // spread so that the clients do not return together either.
        let retries = log.retries
        #expect(retries.count == count)
        #expect(retries.allSatisfy { (1000...2000).contains($0) })
        #expect(Set(retries).count > 100, "\(Set(retries).count) distinct waits")
        for c in channels { c.close(promise: nil) }
    }
}
