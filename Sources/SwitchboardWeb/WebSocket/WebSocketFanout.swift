import NIOCore
import NIOWebSocket
import Switchboard
import SwitchboardChannels
import Synchronization

/// One message as every WebSocket session gets it: encoded once, as a ready-made server frame.
struct WSEvent: StreamEvent {
    let id: MessageID?
    /// The room the message belongs to.
    let room: String
    /// Sender and recipient of a private message, which only they see.
    let parties: Parties?
    /// The whole frame (a final, unmasked text frame): what a live session writes straight to
    /// its socket, past the WebSocket frame encoder.
    let framed: ByteBuffer

    init(_ message: Message, text: String, defaultRoom: String) {
        id = message.id
        room = message.room ?? defaultRoom
        parties = Parties(message)
        framed = Self.textFrame(text)
    }

    /// A final text frame with `text`.
    static func textFrame(_ text: String) -> ByteBuffer {
        frame(.text, ByteBuffer(string: text))
    }

    /// RFC 6455 §5.2: FIN and `opcode`, the payload length (7 bits, or 126 and 16 bits, or 127
    /// and 64 bits), no mask (a server's frames are never masked), the payload.
    static func frame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) -> ByteBuffer {
        let size = payload.readableBytes
        var b = ByteBuffer()
        b.reserveCapacity(size + 10)
        b.writeInteger(UInt8(0x80) | UInt8(webSocketOpcode: opcode))
        if size < 126 {
            b.writeInteger(UInt8(size))
        } else if size <= Int(UInt16.max) {
            b.writeInteger(UInt8(126))
            b.writeInteger(UInt16(size))
        } else {
            b.writeInteger(UInt8(127))
            b.writeInteger(UInt64(size))
        }
        b.writeImmutableBuffer(payload)
        return b
    }
}

/// One WebSocket session's outbound messages: a `StreamSubscriber` whose events are
/// ready-made text frames, written through the session's `WebSocketWire` (acks, presence
/// notices and resumes go through the same wire, in the order they are sent).
typealias WSSubscriber = StreamSubscriber<WSEvent>

/// How a WebSocket session writes: frames through its wire; a ping to keep it alive; a close
/// frame (1000) when the endpoint ends it, the connection closing once the client answers.
/// Used on the connection's event loop only (it is handed there once, hence Sendable).
final class WSFraming: StreamFraming, @unchecked Sendable {
    private let wire: WebSocketWire

    init(_ wire: WebSocketWire) { self.wire = wire }

    func send(_ bytes: ByteBuffer) { wire.send(bytes) }

    func keepAlive() -> Int {
        wire.ping()
        return 0
    }

    /// 1012 (service restart): the endpoint stopped, and the client may come back.
    func close() { wire.close(.unknown(1012), reason: "service restart") }
}
