import NIOCore
import SwitchboardChannels

/// One Server-Sent Event, encoded once and shared by every subscriber.
struct SSEEvent: Sendable {
    /// The message id (`nil` for heartbeats and notices).
    let id: MessageID?
    /// The room the message belongs to.
    let room: String
    /// The encoded bytes, ready to write.
    let bytes: ByteBuffer
    /// Sender and recipient of a private message, which only they see.
    var parties: Parties? = nil

    static let heartbeat = SSEEvent(id: nil, room: "", bytes: ByteBuffer(string: ": ping\n\n"))

    /// Writes an event in the `text/event-stream` format: `id`, `event`, one `data:` line per
    /// line of `data` (split on CRLF, CR or LF, as the format requires), then a blank line.
    static func encode(id: String?, event: String?, data: String) -> String {
        var out = ""
        if let id { out += "id: \(id)\n" }
        if let event { out += "event: \(event)\n" }
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
