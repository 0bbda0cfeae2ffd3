import NIOCore
import SwitchboardChannels

/// One Server-Sent Event, encoded once and shared by every subscriber.
struct SSEEvent: Sendable {
    /// The message id (`nil` for heartbeats and notices).
    let id: MessageID?
    /// The room the message belongs to.
    let room: String
    /// The event as an HTTP/1.1 chunk (size line, the event, CRLF): what a live subscriber
    /// writes straight to its socket, past the HTTP encoder (see `SSESubscriber`).
    let framed: ByteBuffer
    /// Sender and recipient of a private message, which only they see.
    var parties: Parties? = nil

    /// The event's bytes (a view into `framed`), for a replay that goes through the response
    /// writer.
    let bytes: ByteBuffer

    init(id: MessageID?, room: String, text: String, parties: Parties? = nil) {
        self.id = id
        self.room = room
        self.parties = parties
        let size = text.utf8.count
        var framed = ByteBuffer()
        framed.reserveCapacity(size + 12)
        framed.writeString(String(size, radix: 16))
        framed.writeStaticString("\r\n")
        let start = framed.writerIndex
        framed.writeString(text)
        framed.writeStaticString("\r\n")
        self.framed = framed
        bytes = framed.getSlice(at: start, length: size)!
    }

    static let heartbeat = SSEEvent(id: nil, room: "", text: ": ping\n\n")

    /// Writes an event in the `text/event-stream` format: `id`, `event`, one `data:` line per
    /// line of `data` (split on CRLF, CR or LF, as the format requires), then a blank line.
    static func encode(id: String?, event: String?, data: String) -> String {
        var out = ""
        if let id { out += "id: \(id)\n" }
        if let event { out += "event: \(event)\n" }
        // One line (always, for JSON, which escapes its line breaks): no walk over the scalars.
        if !data.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            out += "data: \(data)\n\n"
            return out
        }
        var line = ""
        var afterCR = false
        for scalar in data.unicodeScalars {
            switch scalar {
            case "\r":
                out += "data: \(line)\n"
                line = ""
                afterCR = true
                continue
            case "\n":
                if !afterCR { out += "data: \(line)\n"; line = "" }
            default:
                line.unicodeScalars.append(scalar)
            }
            afterCR = false
        }
        out += "data: \(line)\n\n"
        return out
    }
}

// MARK: - Framing

/// One SSE client: a `StreamSubscriber` whose events are HTTP chunks of `text/event-stream`.
typealias SSESubscriber = StreamSubscriber<SSEEvent>

extension SSEEvent: StreamEvent {}

/// How an SSE subscriber writes: ready-made HTTP chunks at the front of the pipeline (the
/// context of the first handler after the socket), past the HTTP encoder, whose only work on a
/// body part would be the same chunk framing; the response's head and end still go through it,
/// before and after (the end when the stream's `whenEnded` closes the response).
final class SSEFraming: StreamFraming {
    private let socket: ChannelHandlerContext
    /// The endpoint's `retry` (ms): a stream that the endpoint ends says to come back after
    /// between one and two of it, so that the clients spread out.
    private let retry: Int

    init(socket: ChannelHandlerContext, retry: Int) {
        self.socket = socket
        self.retry = retry
    }

    func send(_ bytes: ByteBuffer) {
        socket.writeAndFlush(NIOAny(bytes), promise: nil)
    }

    func keepAlive() -> Int {
        socket.writeAndFlush(NIOAny(SSEEvent.heartbeat.framed), promise: nil)
        return SSEEvent.heartbeat.framed.readableBytes
    }

    func close() {
        let wait = retry + Int.random(in: 0...max(retry, 1))
        socket.writeAndFlush(NIOAny(SSEEvent(id: nil, room: "", text: "retry: \(wait)\n\n").framed), promise: nil)
    }
}
