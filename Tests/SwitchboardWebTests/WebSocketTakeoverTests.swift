import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// A WebSocket handshake that is its connection's first request is answered on the event loop
/// ahead of Hummingbird (`StreamTakeover`, `WebSocketWire`): byte for byte on a raw socket,
/// the handshake's answers, the keep-alive pings and the close an endpoint's stop sends.
@Suite struct WebSocketTakeoverTests {
    static func system(ping: String = "30s") -> String {
        """
        {"components": {
          "inbox": {"type": "channel", "buffer": 64},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "ws": {"type": "websocket", "ping": "\(ping)", "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
        }}
        """
    }

    static func handshake(version: String = "13", key: String? = "dGhlIHNhbXBsZSBub25jZQ==") -> String {
        "GET /ws?name=t HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
            + (key.map { "Sec-WebSocket-Key: \($0)\r\n" } ?? "") + "Sec-WebSocket-Version: \(version)\r\n\r\n"
    }

    static func frames(_ wire: StreamTakeoverTests.Wire) -> [(opcode: UInt8, payload: [UInt8])] {
        WebSocketFrameTests.frames(in: wire.bytes)
    }

    /// A raw connection that sent the handshake and read the answer's head.
    static func upgraded(_ h: WebHarness) async throws -> StreamTakeoverTests.Wire {
        let wire = try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h))
        wire.send(Self.handshake())
        #expect(await wire.read { $0.contains("\r\n\r\n") })
        return wire
    }

    @Test func theHandshakeIsAnsweredWithRFC6455sAcceptKey() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let wire = try await Self.upgraded(h)
        let head = wire.text.lowercased()
        #expect(head.hasPrefix("http/1.1 101 switching protocols\r\n"))
        // RFC 6455 §1.3's own example.
        #expect(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"))
        #expect(head.contains("upgrade: websocket\r\n"))
        #expect(head.contains("connection: upgrade\r\n"))
        #expect(!head.contains("transfer-encoding"), "a 101 has no body")
        let ws = try await h.component("ws", as: WebSocketEndpoint.self)
        await waitUntil("the session") { ws.connectedClients == 1 }
    }

    static let refused: [String: (request: String, status: Int)] = [
        "another version": (handshake(version: "8"), 426),
        "no key": (handshake(key: nil), 400),
        "a key that is not 16 bytes": (handshake(key: "c2hvcnQ="), 400),
    ]

    @Test(arguments: refused.keys.sorted())
    func aHandshakeThatIsNotRFC6455sIsRefusedWithAReason(_ name: String) async throws {
        let (request, status) = try #require(Self.refused[name])
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let wire = try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h))
        wire.send(request)
        await wire.read { _ in false }
        #expect(wire.closed, "\(name): the connection ends with the refusal")
        #expect(HostileHTTPTests.status(wire.text) == status, "\(name)")
        #expect(wire.text.contains(#""error""#), "\(name): a JSON reason")
        if status == 426 { #expect(wire.text.lowercased().contains("sec-websocket-version: 13\r\n")) }
    }

    @Test func aClientThatNeverAnswersPingsIsClosedWith1001() async throws {
        let h = try await WebHarness.start(Self.system(ping: "50ms"))
        defer { Task { await h.stop() } }
        let wire = try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h))
        wire.send(Self.handshake())
        await wire.read { _ in false }
        #expect(wire.closed)
        let frames = Self.frames(wire)
        #expect(frames.first?.opcode == 0x9, "pinged first")
        #expect(WebSocketFrameTests.closeCode(frames) == 1001)
    }

    @Test func stoppingTheEndpointSendsEachSessionACloseFrame() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let wire = try await Self.upgraded(h)
        let ws = try await h.component("ws", as: WebSocketEndpoint.self)
        await waitUntil("the session") { ws.connectedClients == 1 }
        try await ws.stop()
        #expect(await wire.read { _ in WebSocketFrameTests.closeCode(WebSocketFrameTests.frames(in: wire.bytes)) != nil })
        #expect(WebSocketFrameTests.closeCode(Self.frames(wire)) == 1012, "service restart: the client may come back")
        // The client answers the close: the server ends the connection.
        _ = WebSocketFrameTests.closeFrame.withUnsafeBytes { send(wire.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        await wire.read { _ in false }
        #expect(wire.closed)
        #expect(ws.connectedClients == 0)
    }
}
