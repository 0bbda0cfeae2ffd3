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
