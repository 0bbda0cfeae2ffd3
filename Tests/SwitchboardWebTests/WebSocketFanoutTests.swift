import Foundation
import HummingbirdWSClient
import Logging
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Synchronization
import Testing

/// The WebSocket endpoint's fan-out: one listener on the mult, each message encoded once as a
/// frame and written from each connection's event loop (no tap and no task per session).
@Suite struct WebSocketFanoutTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 1024},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
        }}
        """#

    static func sessions(_ ws: WebSocketEndpoint) async -> Int {
        (await ws.inspect())["sessions"]?.intValue ?? -1
    }

    /// A real client reading the texts of `count` message frames (its frame limit raised to
    /// 1 MiB), or of all until the server closes.
    static func read(_ url: String, count: Int) async throws -> [String] {
        let texts = Mutex<[String]>([])
        var config = WebSocketClientConfiguration()
        config.maxFrameSize = 1 << 20
        try await WebSocketClient.connect(url: url, configuration: config, logger: Logger(label: "ws")) { inbound, _, _ in
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let s) = message, case .object(let o) = try JSONParser.parse(s).value, o["type"] == "message",
                      let text = o["text"]?.stringValue else { continue }
                if texts.withLock({ $0.append(text); return $0.count }) == count { break }
            }
        }
        return texts.withLock { $0 }
    }

    /// Frames whose payload length takes 7 bits, 16 bits and 64 bits (RFC 6455 §5.2) reach a
    /// real client whole and in order.
    @Test func framesOfEveryLengthFormReachARealClient() async throws {
        let h = try await WebHarness.start(Self.system)
        let ws = try await h.component("ws", as: WebSocketEndpoint.self)
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        let url = try await h.url("/ws?name=reader").replacingOccurrences(of: "http://", with: "ws://")
        let texts = ["short", String(repeating: "m", count: 300), String(repeating: "l", count: 70_000), "après"]
        let reading = Task { try await Self.read(url, count: texts.count) }
        await waitUntil("the session") { await Self.sessions(ws) == 1 }
        for t in texts { _ = await inbox.send(Message(from: "load", text: t)) }
        #expect(try await reading.value == texts)
        await h.stop()
    }

    /// Many sessions, one listener on the mult and no tap: every session gets every message,
    /// in order, and the endpoint counts what it delivered.
    @Test func manySessionsShareOneListenerAndGetEverything() async throws {
        let h = try await WebHarness.start(Self.system)
        let ws = try await h.component("ws", as: WebSocketEndpoint.self)
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        let url = try await h.url("/ws?name=reader").replacingOccurrences(of: "http://", with: "ws://")
        let (clients, messages) = (20, 300)
        let readers = (0..<clients).map { _ in Task { try await Self.read(url, count: messages) } }
        await waitUntil("every session") { await Self.sessions(ws) == clients }
        let figures = try await h.map.inspect("fanout")["figures"]
        #expect(figures?["tapCount"] == 0)
        #expect(figures?["listeners"] == 1)
        for i in 0..<messages { _ = await inbox.send(Message(from: "load", text: "m\(i)")) }
        let expected = (0..<messages).map { "m\($0)" }
        for r in readers { #expect(try await r.value == expected) }
        let inspect = await ws.inspect()
        #expect(inspect["delivered"]?.intValue == clients * messages)
        #expect(inspect["dropped"]?.intValue == 0)
        await h.stop()
    }

    /// Stopping the endpoint ends its sessions (the client's stream ends, with a close frame)
    /// and not the server; started again, a new session gets the messages.
    @Test func stoppingTheEndpointEndsItsSessionsButNotTheServer() async throws {
        let h = try await WebHarness.start(Self.system)
        let ws = try await h.component("ws", as: WebSocketEndpoint.self)
        let url = try await h.url("/ws?name=reader").replacingOccurrences(of: "http://", with: "ws://")
        let reading = Task { try await Self.read(url, count: 1) }
        await waitUntil("the session") { await Self.sessions(ws) == 1 }
        _ = try await h.map.stop("ws")
        #expect(try await reading.value.isEmpty)
        #expect(await Self.sessions(ws) == 0)
        try await h.map.start("ws")
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        let again = Task { try await Self.read(url, count: 1) }
        await waitUntil("the new session") { await Self.sessions(ws) == 1 }
        _ = await inbox.send(Message(from: "load", text: "after the restart"))
        #expect(try await again.value == ["after the restart"])
        await h.stop()
    }
}
