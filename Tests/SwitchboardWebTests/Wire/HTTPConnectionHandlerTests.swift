import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Switchboard
import SwitchboardChannels
import Synchronization
import Testing
@testable import SwitchboardWeb

/// The connection handler byte by byte on a test channel (NIO's thread-safe
/// `NIOAsyncTestingChannel`: the routes answer from tasks), with the real routes of a running
/// server: what the probes of the release binary found, one by one.
@Suite struct HTTPConnectionHandlerTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": {"size": 1, "policy": "fixed"}},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0, "cors": {"origins": ["https://chat.test"]}},
          "publish": {"type": "publish", "wait": "5s", "using": {"server": "http", "channel": "inbox"}},
          "side": {"type": "channel", "buffer": {"size": 1, "policy": "fixed"}},
          "slow": {"type": "publish", "path": "/slow", "wait": "5s", "using": {"server": "http", "channel": "side"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
        }}
        """#

    /// Counts the reads the handler lets through to the socket.
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = Any
        let reads = Atomic<Int>(0)
        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    /// A connection on a test channel, in front of the harness's server.
    struct Connection {
        let channel: NIOAsyncTestingChannel
        let counter = ReadCounter()
        var out = ""

        init(_ server: HTTPServerComponent, requestTimeout: TimeAmount = .seconds(10), keepAliveTimeout: TimeAmount = .seconds(30)) async throws {
            channel = NIOAsyncTestingChannel()
            let settings = WireSettings(bodyLimit: 1024, requestTimeout: requestTimeout, keepAliveTimeout: keepAliveTimeout, maxWebSocketFrame: 1 << 16)
            let handler = HTTPConnectionHandler(server: server, settings: settings, channel: channel)
            let counter = self.counter
            let channel = self.channel
            try await channel.testingEventLoop.executeInContext {
                try channel.pipeline.syncOperations.addHandlers([counter, HTTPResponseEncoder(),
                                                                 ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), handler])
            }
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        }

        func send(_ text: String) async throws {
            try await channel.writeInbound(ByteBuffer(string: text))
        }

        /// Reads what the server wrote until `done` holds (10 s at most, waiting on writes).
        mutating func read(until done: (String) -> Bool) async throws -> String {
            let deadline = ContinuousClock.now + .seconds(10)
            while !done(out), ContinuousClock.now < deadline {
                if let b = try await channel.readOutbound(as: ByteBuffer.self) {
                    out += String(buffer: b)
                } else {
                    await Task.yield()
                }
            }
            return out
        }

        var reads: Int { counter.reads.load(ordering: .relaxed) }
    }

    static func responses(_ text: String) -> [String] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { "HTTP/1.1 " + $0 }
    }

    @Test func aHandshakeThatAnnouncesABodyIsRefusedAtOnceNotLeftHanging() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        var c = try await Connection(try await h.component("http", as: HTTPServerComponent.self))
        try await c.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n\r\n")
        let text = try await c.read { $0.contains("no body") }
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(text.lowercased().contains("connection: close"))
        try await c.channel.closeFuture.get()
    }

    @Test func aHandshakeWhoseHeadNeverEndsTimesOutWith408() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        var c = try await Connection(try await h.component("http", as: HTTPServerComponent.self), requestTimeout: .milliseconds(200))
        try await c.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        await c.channel.testingEventLoop.advanceTime(by: .milliseconds(250))
        let text = try await c.read { $0.contains("did not arrive in time") }
        #expect(text.hasPrefix("HTTP/1.1 408"))
    }

    /// A connection (request time 200 ms, keep-alive 1 s) whose first request has been answered
    /// (a 404, read to its end) at the test loop's time 0: kept alive, waiting for the next.
    func keptAlive(_ h: WebHarness) async throws -> Connection {
        var c = try await Connection(try await h.component("http", as: HTTPServerComponent.self), requestTimeout: .milliseconds(200),
                                     keepAliveTimeout: .seconds(1))
        try await c.send("GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.read { $0.hasSuffix("}\n") }.hasPrefix("HTTP/1.1 404"))
        return c
    }

    /// The timer is lazy (the wake-up armed for the first request stays when later deadlines
    /// are later): a later request still gets its whole time, neither less nor more.
    @Test func aLaterRequestOnAKeptAliveConnectionGetsItsWholeRequestTime() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        var c = try await keptAlive(h)
        c.out = ""
        await c.channel.testingEventLoop.advanceTime(by: .milliseconds(150))
        // A body that stops short: the request's 200 ms run from here, to 350 ms.
        try await c.send("POST /messages?from=a HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhi")
        await c.channel.testingEventLoop.advanceTime(by: .milliseconds(100))
        var early = ""
        while let b = try await c.channel.readOutbound(as: ByteBuffer.self) { early += String(buffer: b) }
        #expect(early == "", "nothing at 250 ms (the first wake-up, at 200 ms, re-armed)")
        #expect(c.channel.isActive)
        await c.channel.testingEventLoop.advanceTime(by: .milliseconds(110))
        let text = try await c.read { $0.contains("did not arrive in time") }
        #expect(text.hasPrefix("HTTP/1.1 408"))
    }

    /// A kept-alive connection that stays idle is closed after `keepAliveTimeout`, not before.
    @Test func anIdleKeptAliveConnectionClosesAtItsKeepAliveTime() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let c = try await keptAlive(h)
        await c.channel.testingEventLoop.advanceTime(by: .milliseconds(900))
        #expect(c.channel.isActive, "open at 900 ms")
        await c.channel.testingEventLoop.advanceTime(by: .milliseconds(150))
        try await c.channel.closeFuture.get()
    }

    @Test func noReadIsIssuedWhileAnAnswerWaitsAndPipelinedRequestsAreAnsweredInOrder() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let server = try await h.component("http", as: HTTPServerComponent.self)
        // `side` holds one message and nobody takes from it: the second publish waits for room.
        let side = try await h.component("side", as: ChannelComponent.self)
        var c = try await Connection(server)
        let post = { (text: String) in "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)" }
        try await c.send(post("one"))
        _ = try await c.read { Self.responses($0).count == 1 }
        // The second waits; three more are pipelined behind it in the same bytes.
        try await c.send(post("two") + post("three") + post("four") + post("five"))
        let channel = c.channel
        try await channel.testingEventLoop.executeInContext { channel.read() }
        let readsWhileWaiting = c.reads
        try await channel.testingEventLoop.executeInContext { channel.read(); channel.read() }
        #expect(c.reads == readsWhileWaiting, "no read reaches the socket while an answer waits")
        // Room appears one message at a time: each answer comes, in order.
        for expected in 2...5 {
            _ = try side.currentChan().poll()
            _ = try await c.read { Self.responses($0).count == expected }
        }
        #expect(Self.responses(c.out).allSatisfy { $0.hasPrefix("HTTP/1.1 202") }, "\(c.out)")
        try await channel.testingEventLoop.executeInContext { channel.read() }
        #expect(c.reads > readsWhileWaiting, "reading goes on once the answers are out")
    }

    @Test func aConnectionClosePublishIsAnsweredWithWhatHappenedWhateverFollowsIt() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        for version in ["HTTP/1.1", "HTTP/1.0"] {
            var c = try await Connection(try await h.component("http", as: HTTPServerComponent.self))
            let close = version == "HTTP/1.1" ? "Connection: close\r\n" : ""
            try await c.send("POST /messages \(version)\r\nHost: x\r\n\(close)Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhiGARBAGE \u{1} not http\r\n\r\n")
            let text = try await c.read { $0.contains("\"status\":\"accepted\"") }
            #expect(text.hasPrefix("HTTP/1.1 202"), "\(version): \(text)")
            #expect(Self.responses(text).count == 1, "one answer, nothing for what followed")
            _ = try await h.component("inbox", as: ChannelComponent.self).currentChan().poll()
            try await c.channel.closeFuture.get()
        }
    }

    @Test func anUpgradeOnARouteThatIsNotAWebSocketIsA400() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        var c = try await Connection(try await h.component("http", as: HTTPServerComponent.self))
        try await c.send("POST /messages HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
        let text = try await c.read { $0.contains("notUpgradable") }
        #expect(text.hasPrefix("HTTP/1.1 400"))
        #expect(text.contains("application/json"))
    }

    @Test func aHandshakeOnAKeptAliveConnectionIsUpgraded() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        var c = try await Connection(try await h.component("http", as: HTTPServerComponent.self))
        try await c.send("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try await c.read { Self.responses($0).count == 1 }
        try await c.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let text = try await c.read { $0.contains("\r\n\r\n") && Self.responses($0).count == 2 }
        let second = Self.responses(text)[1]
        #expect(second.hasPrefix("HTTP/1.1 101"), "\(text)")
        #expect(second.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        #expect(!text.contains("307"))
    }

    @Test func aTaskStartedForAConnectionIsCancelledWhenItCloses() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let server = try await h.component("http", as: HTTPServerComponent.self)
        let cancelled = Latch<Void>()
        try server.register(owner: "test", routes: [HTTPRoute(.get, "/slow") { _, _ in
            await withTaskCancellationHandler { try? await Task.sleep(for: .seconds(60)) } onCancel: { cancelled.resolve(.success(())) }
            return .error(.internalServerError, "not reached in time")
        }])
        let c = try await Connection(server)
        try await c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        try await c.channel.close()
        try await cancelled.wait()
    }

    @Test func everyHeadCarriesDateServerAndCORSFromTheOneWriter() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        var c = try await Connection(try await h.component("http", as: HTTPServerComponent.self))
        try await c.send("GET /nothing HTTP/1.1\r\nHost: x\r\nOrigin: https://chat.test\r\n\r\n")
        try await c.send("POST /messages HTTP/1.1\r\nHost: x\r\nOrigin: https://chat.test\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx")
        try await c.send("GET /ws HTTP/1.1\r\nHost: x\r\nOrigin: https://chat.test\r\nUpgrade: websocket\r\n\r\n")
        let text = try await c.read { Self.responses($0).count == 3 }
        for response in Self.responses(text) {
            let head = response.lowercased()
            #expect(head.contains("date: ") && head.contains("server: switchboard"), "\(response)")
            #expect(head.contains("access-control-allow-origin: https://chat.test"), "\(response)")
        }
    }
}
