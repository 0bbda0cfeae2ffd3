import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardWeb
import Testing

/// The WebSocket protocol of a session on its own (RFC 6455), on an `EmbeddedChannel`: the
/// frames a client sends go in as bytes, the server's come out as bytes.
@Suite struct WebSocketWireTests {
    /// A wire after NIO's frame decoder, recording what it hands the session.
    final class Harness {
        let channel = EmbeddedChannel()
        let wire: WebSocketWire
        var messages: [WSInbound] = []
        var ended = 0

        init(maxMessageSize: Int = 1024, closeTimeout: TimeAmount = .seconds(15)) throws {
            wire = WebSocketWire(eventLoop: channel.eventLoop, maxMessageSize: maxMessageSize, closeTimeout: closeTimeout)
            wire.onMessage = { [unowned self] in messages.append($0) }
            wire.onEnd = { [unowned self] in ended += 1 }
            try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 4096)), wire])
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func send(_ bytes: [UInt8]) throws {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            channel.embeddedEventLoop.run()
        }

        /// The server's frames written so far.
        func frames() throws -> [(opcode: UInt8, payload: [UInt8])] {
            var bytes: [UInt8] = []
            while let b = try channel.readOutbound(as: ByteBuffer.self) { bytes += Array(b.readableBytesView) }
            return WebSocketFrameTests.frames(in: Array("\r\n\r\n".utf8) + bytes)
        }

        var texts: [String] {
            messages.compactMap { if case .text(let t) = $0 { t } else { nil } }
        }
    }

    /// A client frame: masked unless `masked` is false, FIN unless `fin` is false, `rsv1` if asked.
    static func frame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv1: Bool = false) -> [UInt8] {
        var out = WebSocketFrameTests.frame(opcode, payload, masked: masked)
        out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode
        return out
    }

    static func closeCode(_ frames: [(opcode: UInt8, payload: [UInt8])]) -> Int? { WebSocketFrameTests.closeCode(frames) }

    @Test func aFragmentedMessageArrivesWholeEvenWithAPingBetweenItsFragments() throws {
        let h = try Harness()
        // "é" (C3 A9) split across the fragments: valid UTF-8 only once joined.
        try h.send(Self.frame(0x1, [0x68, 0xC3], fin: false))
        try h.send(Self.frame(0x9, Array("p".utf8)))
        try h.send(Self.frame(0x0, [0xA9, 0x21]))
        #expect(h.texts == ["hé!"])
        let frames = try h.frames()
        #expect(frames.map(\.opcode) == [0xA])
        #expect(frames.first?.payload == Array("p".utf8), "the pong carries the ping's payload")
    }

    @Test func aMessageOverTheLimitFailsTheConnectionWith1009() throws {
        let h = try Harness(maxMessageSize: 10)
        try h.send(Self.frame(0x1, Array("123456".utf8), fin: false))
        try h.send(Self.frame(0x0, Array("789012".utf8)))
        #expect(h.messages.isEmpty)
        #expect(Self.closeCode(try h.frames()) == 1009)
        #expect(h.wire.failure == .messageTooLarge)
        #expect(!h.channel.isActive)
        #expect(h.ended == 1)
    }

    @Test func textThatIsNotUTF8FailsWith1007() throws {
        let h = try Harness()
        try h.send(Self.frame(0x1, [0x7B, 0xC3, 0x28]))
        #expect(h.messages.isEmpty)
        #expect(Self.closeCode(try h.frames()) == 1007)
        #expect(!h.channel.isActive)
    }

    @Test(arguments: [
        ("unmasked", frame(0x1, Array("hi".utf8), masked: false)),
        ("a reserved bit", frame(0x1, Array("hi".utf8), rsv1: true)),
        ("a continuation without a message", frame(0x0, Array("hi".utf8))),
        ("a reserved opcode", frame(0x3, Array("hi".utf8))),
        ("a message inside a message", frame(0x1, Array("a".utf8), fin: false) + frame(0x1, Array("b".utf8))),
        ("a fragmented ping", frame(0x9, Array("p".utf8), fin: false)),
    ])
    func aProtocolErrorFailsTheConnectionWith1002(_ name: String, _ bytes: [UInt8]) throws {
        let h = try Harness()
        try h.send(bytes)
        #expect(h.messages.isEmpty, "\(name)")
        #expect(Self.closeCode(try h.frames()) == 1002, "\(name)")
        #expect(!h.channel.isActive, "\(name)")
    }

    @Test func theClientsCloseIsAnsweredOnlyAfterTheSessionAnsweredWhatCameBefore() throws {
        let h = try Harness()
        var answered: (() -> Void)?
        h.wire.beforeClose = { answered = $0 }
        try h.send(Self.frame(0x1, Array("hi".utf8)) + Self.frame(0x8, [0x03, 0xE8]))
        #expect(h.texts == ["hi"])
        #expect(h.ended == 1, "the live side ends at the client's close")
        #expect(try h.frames().isEmpty, "nothing answered yet")
        h.wire.send(text: "ack")
        #expect(try h.frames().map(\.opcode) == [0x1], "the session may still answer")
        answered?()
        h.channel.embeddedEventLoop.run()
        #expect(Self.closeCode(try h.frames()) == 1000)
        #expect(!h.channel.isActive)
    }

    @Test(arguments: [([UInt8](), 1000), ([0x03], 1002), ([0x03, 0xED], 1002), ([0x0F, 0xA0], 1000), ([0x03, 0xE8, 0xFF], 1002)])
    func aCloseIsAnsweredWithACodeThatSaysWhetherItWasValid(_ payload: [UInt8], _ answer: Int) throws {
        let h = try Harness()
        try h.send(Self.frame(0x8, payload))
        #expect(Self.closeCode(try h.frames()) == answer)
        #expect(!h.channel.isActive)
    }

    @Test func aServerCloseWaitsForTheClientsCloseAndNoLonger() throws {
        let answered = try Harness()
        answered.wire.close()
        #expect(Self.closeCode(try answered.frames()) == 1000)
        answered.wire.send(text: "late")
        #expect(try answered.frames().isEmpty, "nothing is sent after a close frame")
        #expect(answered.channel.isActive)
        try answered.send(Self.frame(0x8, [0x03, 0xE8]))
        #expect(!answered.channel.isActive)

        let silent = try Harness(closeTimeout: .seconds(5))
        silent.wire.close()
        silent.channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(silent.channel.isActive)
        silent.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!silent.channel.isActive)
    }

    @Test func aPingStillUnansweredAtTheNextOneClosesWith1001() throws {
        let h = try Harness()
        h.wire.ping()
        let ping = try #require(try h.frames().first)
        #expect(ping.opcode == 0x9)
        // Answered: the next ping goes out, and the connection stays.
        try h.send(Self.frame(0xA, ping.payload))
        h.wire.ping()
        #expect(try h.frames().map(\.opcode) == [0x9])
        #expect(h.channel.isActive)
        // Not answered (a pong with other bytes does not count): the next ping closes.
        try h.send(Self.frame(0xA, [1, 2, 3]))
        h.wire.ping()
        #expect(Self.closeCode(try h.frames()) == 1001)
        #expect(!h.channel.isActive)
    }

    /// What the session hands the wire holds the wire in turn (its inbound queue answers through
    /// it): the wire must let go of it when the connection ends, or every session leaks.
    @Test(arguments: ["the connection ends", "a close frame", "a protocol error"])
    func theWireLetsGoOfTheSessionsCallbacksWhenItEnds(_ how: String) throws {
        final class Session {}
        weak var gone: Session?
        let h = try Harness()
        do {
            let session = Session()
            gone = session
            h.wire.onMessage = { [wire = h.wire] _ in _ = (session, wire) }
            h.wire.beforeClose = { [wire = h.wire] answer in _ = (session, wire); answer() }
            h.wire.onWritable = { [wire = h.wire] in _ = (session, wire) }
        }
        #expect(gone != nil)
        switch how {
        case "the connection ends": _ = try? h.channel.close().wait()
        case "a close frame": try h.send(Self.frame(0x8, [0x03, 0xE8]))
        default: try h.send(Self.frame(0x1, Array("hi".utf8), masked: false))
        }
        h.channel.embeddedEventLoop.run()
        #expect(gone == nil, "\(how): the session's callbacks are still held")
    }

    @Test func aFrameOverTheDecodersLimitFailsWith1009() throws {
        let h = try Harness(maxMessageSize: 1 << 20)
        try? h.send(Self.frame(0x2, [UInt8](repeating: 7, count: 5000)))
        #expect(Self.closeCode(try h.frames()) == 1009)
        #expect(!h.channel.isActive)
    }
}
