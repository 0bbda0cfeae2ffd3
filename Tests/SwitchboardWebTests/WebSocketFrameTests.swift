import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// WebSocket frames written byte by byte on a real socket (RFC 6455 §5): what a browser never
/// sends but a hostile client can.
@Suite struct WebSocketFrameTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 8},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
        }}
        """#

    static let handshake = Array(("GET /ws?name=t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8)

    /// One frame with FIN set; masked with a fixed key unless `masked` is false.
    static func frame(_ opcode: UInt8, _ payload: [UInt8], masked: Bool = true) -> [UInt8] {
        var out: [UInt8] = [0x80 | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126: out.append(maskBit | UInt8(payload.count))
        case ..<65536: out += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: out += [maskBit | 127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        guard masked else { return out + payload }
        let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        return out + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }

    static func text(_ s: String, masked: Bool = true) -> [UInt8] { frame(0x1, Array(s.utf8), masked: masked) }
    static let closeFrame = frame(0x8, [0x03, 0xE8])

    /// The server's frames after its 101 answer (server frames are never masked).
    static func frames(in reply: [UInt8]) -> [(opcode: UInt8, payload: [UInt8])] {
        let end = Array("\r\n\r\n".utf8)
        guard let head = (0...max(0, reply.count - 4)).first(where: { Array(reply[$0..<min($0 + 4, reply.count)]) == end }) else { return [] }
        var i = head + 4
        var out: [(UInt8, [UInt8])] = []
        while i + 2 <= reply.count {
            let opcode = reply[i] & 0x0F
            var length = Int(reply[i + 1] & 0x7F)
            i += 2
            if length == 126, i + 2 <= reply.count { length = Int(reply[i]) << 8 | Int(reply[i + 1]); i += 2 }
            else if length == 127, i + 8 <= reply.count { length = reply[i..<i + 8].reduce(0) { $0 << 8 | Int($1) }; i += 8 }
            guard i + length <= reply.count else { break }
            out.append((opcode, Array(reply[i..<i + length])))
            i += length
        }
        return out
    }

    static func closeCode(_ frames: [(opcode: UInt8, payload: [UInt8])]) -> Int? {
        guard let close = frames.first(where: { $0.opcode == 0x8 }), close.payload.count >= 2 else { return nil }
        return Int(close.payload[0]) << 8 | Int(close.payload[1])
    }

    static func acks(_ frames: [(opcode: UInt8, payload: [UInt8])]) -> Int {
        frames.filter { $0.opcode == 0x1 && String(decoding: $0.payload, as: UTF8.self).contains(#""type":"ack""#) }.count
    }

    func exchange(_ bytes: [UInt8]) async throws -> (reply: [UInt8], closed: Bool) {
        let h = try await WebHarness.start(Self.system)
        let port = try #require(try await h.component("http", as: HTTPServerComponent.self).boundPort)
        let (reply, closed) = try await ConsoleFreeThread.run { try HostileHTTPTests.exchangeBytes(port, Self.handshake + bytes) }
        await h.stop()
        #expect(String(decoding: reply.prefix(40), as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        return (reply, closed)
    }

    @Test func anUnmaskedClientFrameClosesWithProtocolError() async throws {
        let (reply, closed) = try await exchange(Self.text(#"{"text": "hi"}"#, masked: false))
        let frames = Self.frames(in: reply)
        #expect(Self.closeCode(frames) == 1002)
        #expect(Self.acks(frames) == 0, "the unmasked frame was taken")
        #expect(closed)
    }

    @Test func theSameFrameMaskedIsTaken() async throws {
        let (reply, closed) = try await exchange(Self.text(#"{"text": "hi"}"#) + Self.closeFrame)
        let frames = Self.frames(in: reply)
        #expect(Self.acks(frames) == 1)
        #expect(Self.closeCode(frames) == 1000)
        #expect(closed)
    }

    @Test func aSingle20KBFrameIsTaken() async throws {
        // 20 KB on the wire, text under maxTextLength: once closed with 1009 at 16 KB.
        let json = #"{"text": ""# + String(repeating: "a", count: 16_000) + #""}"# + String(repeating: " ", count: 4_000)
        let (reply, _) = try await exchange(Self.text(json) + Self.closeFrame)
        let frames = Self.frames(in: reply)
        #expect(Self.acks(frames) == 1)
        #expect(Self.closeCode(frames) == 1000)
    }

    @Test func invalidUTF8TextClosesWithInvalidData() async throws {
        let (reply, closed) = try await exchange(Self.frame(0x1, [0x7B, 0xC3, 0x28, 0xFF, 0x7D]))
        let frames = Self.frames(in: reply)
        #expect(Self.closeCode(frames) == 1007)
        #expect(Self.acks(frames) == 0)
        #expect(closed)
    }

    /// A client that upgrades and then never reads: the server's unread bytes stop at the
    /// connection's `bufferBytes`, and `disconnect` ends it.
    @Test func aWebSocketClientThatNeverReadsIsBoundedAndDisconnected() async throws {
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 8},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "ws": {"type": "websocket", "capacity": 16, "bufferBytes": 16384, "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
            }}
            """#)
        let port = try #require(try await h.component("http", as: HTTPServerComponent.self).boundPort)
        let ws = try await h.component("ws", as: WebSocketEndpoint.self)
        let inbox = try await h.component("inbox", as: ChannelComponent.self).currentChan()
        let fd = try await ConsoleFreeThread.run { try HostileHTTPTests.connectNeverReading(port, Self.handshake) }
        defer { close(fd) }
        func sessions() async -> Int {
            if case .object(let o) = await ws.inspect(), case .int(let n)? = o["sessions"] { return n }
            return -1
        }
        await waitUntil("the session") { await sessions() == 1 }
        // 8 KB messages until the session is gone; bounded by bufferBytes and the
        // kernel's socket buffers (megabytes at most on loopback), not by what is published.
        let text = String(repeating: "x", count: 8000)
        var sent = 0
        while await sessions() == 1, sent < 5000 {
            _ = await inbox.send(Message(from: "load", text: text))
            sent += 1
        }
        #expect(sent * 8000 > 16384, "disconnected before its bufferBytes could have filled")
        #expect(sent < 5000, "a client that never reads was never disconnected (\(sent) × 8 KB sent)")
        if case .object(let o) = await ws.inspect(), case .object(let c)? = o["counts"] {
            #expect(c["connected"] == .int(1))
        }
        await h.stop()
    }
}
