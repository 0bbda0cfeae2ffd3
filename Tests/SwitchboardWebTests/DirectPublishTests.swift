import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// `POST /messages` is answered on its connection ahead of Hummingbird (`StreamTakeover`'s
/// direct requests); on a raw socket it must look as it did: keep-alive, pipelining in order
/// with what Hummingbird answers, chunked bodies, the body limit, CORS, `Connection: close`.
@Suite struct DirectPublishTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 64},
          "http": {"type": "http-server", "port": 0, "requestBodyLimit": 1000, "cors": {"origins": ["https://chat.test"]}},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "health": {"type": "health", "using": {"server": "http"}}
        }}
        """#

    static func post(_ text: String, close: Bool = false, origin: Bool = false) -> String {
        "POST /messages?from=t HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: \(text.utf8.count)\r\n"
            + (close ? "Connection: close\r\n" : "") + (origin ? "Origin: https://chat.test\r\n" : "") + "\r\n" + text
    }

    /// The statuses of the responses in `text`, in order.
    static func statuses(_ text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }

    static func start() async throws -> (WebHarness, StreamTakeoverTests.Wire, Chan<Message>) {
        let h = try await WebHarness.start(Self.system)
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        return (h, try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h)), inbox)
    }

    @Test func pipelinedPublishesAndARequestForHummingbirdAreAnsweredInOrder() async throws {
        let (h, wire, inbox) = try await Self.start()
        defer { Task { await h.stop() } }
        wire.send(Self.post("one") + "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + Self.post("two"))
        #expect(await wire.read { Self.statuses($0).count == 3 })
        #expect(Self.statuses(wire.text) == [202, 200, 202])
        #expect(wire.text.contains(#""status":"alive""#))
        #expect(!wire.closed, "the connection is kept alive")
        #expect(await inbox.receive()?.text == "one")
        #expect(await inbox.receive()?.text == "two")
        // Still served after all that.
        wire.send(Self.post("three"))
        #expect(await wire.read { Self.statuses($0).count == 4 })
        #expect(await inbox.receive()?.text == "three")
    }

    @Test func anAnswerCarriesItsLengthAndCORSAndConnectionCloseEndsTheConnection() async throws {
        let (h, wire, _) = try await Self.start()
        defer { Task { await h.stop() } }
        wire.send(Self.post("hi", close: true, origin: true))
        await wire.read { _ in false }
        #expect(wire.closed)
        #expect(Self.statuses(wire.text) == [202])
        let text = wire.text.lowercased()
        for field in ["content-length: ", "connection: close", "access-control-allow-origin: https://chat.test", "server: switchboard", "date: "] {
            #expect(text.contains(field), "\(field)")
        }
        let body = try #require(text.components(separatedBy: "\r\n\r\n").last)
        #expect(text.contains("content-length: \(body.utf8.count)\r\n"))
    }

    @Test func aChunkedBodyIsReadAndOneOverTheLimitIs413AndCloses() async throws {
        let (h, wire, inbox) = try await Self.start()
        defer { Task { await h.stop() } }
        wire.send("POST /messages?from=t HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        #expect(await wire.read { Self.statuses($0).count == 1 })
        #expect(await inbox.receive()?.text == "abcde")
        let chunk = String(repeating: "x", count: 600)
        wire.send("POST /messages?from=t HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n")
        await wire.read { _ in false }
        #expect(Self.statuses(wire.text) == [202, 413])
        #expect(wire.closed)
    }

    /// A channel of one, a publish that waits long for room, and a body limit of its own.
    static let narrow = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 1},
          "http": {"type": "http-server", "port": 0, "requestBodyLimit": 1000},
          "publish": {"type": "publish", "wait": "60s", "maxBodySize": 16, "using": {"server": "http", "channel": "inbox"}},
          "quick": {"type": "publish", "path": "/quick", "wait": "10ms", "using": {"server": "http", "channel": "inbox"}}
        }}
        """#

    @Test func aPublishThatFindsTheChannelFullWaitsForRoomAndWhatCameBehindItIsAnsweredAfterIt() async throws {
        let h = try await WebHarness.start(Self.narrow)
        defer { Task { await h.stop() } }
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        let wire = try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h))
        wire.send(Self.post("one"))
        #expect(await wire.read { Self.statuses($0).count == 1 })
        // The channel (one place) is full: both wait, the second behind the first.
        wire.send(Self.post("two") + Self.post("three"))
        #expect(await inbox.receive()?.text == "one")
        #expect(await wire.read { Self.statuses($0).count == 2 })
        #expect(await inbox.receive()?.text == "two")
        #expect(await wire.read { Self.statuses($0).count == 3 })
        #expect(await inbox.receive()?.text == "three")
        #expect(Self.statuses(wire.text) == [202, 202, 202])
        #expect(!wire.closed)
    }

    @Test func aChannelThatStaysFullIs503WithRetryAfterAndTheConnectionGoesOn() async throws {
        let h = try await WebHarness.start(Self.narrow)
        defer { Task { await h.stop() } }
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        let wire = try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h))
        let quick = { (text: String) in Self.post(text).replacingOccurrences(of: "POST /messages", with: "POST /quick") }
        wire.send(quick("one") + quick("two"))
        #expect(await wire.read { Self.statuses($0).count == 2 })
        #expect(Self.statuses(wire.text) == [202, 503])
        #expect(wire.text.lowercased().contains("retry-after: 1\r\n"))
        #expect(wire.text.contains(#""error":"the channel is full; try again later""#))
        #expect(await inbox.receive()?.text == "one")
        wire.send(quick("three"))
        #expect(await wire.read { Self.statuses($0).count == 3 })
        #expect(Self.statuses(wire.text) == [202, 503, 202])
        #expect(await inbox.receive()?.text == "three")
    }

    @Test func aBodyOverThePublishersOwnLimitIs413AndNothingIsPut() async throws {
        let h = try await WebHarness.start(Self.narrow)
        defer { Task { await h.stop() } }
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        let wire = try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h))
        wire.send(Self.post(String(repeating: "x", count: 17)) + Self.post("fits"))
        #expect(await wire.read { Self.statuses($0).count == 2 })
        #expect(Self.statuses(wire.text) == [413, 202])
        #expect(wire.text.contains("the body exceeds the limit of 16 bytes"))
        #expect(await inbox.receive()?.text == "fits")
    }
}

