import Switchboard

/// One unit of the admin protocol, server to client: `<kind> <length>\n<payload>\n`, where
/// the payload is `length` bytes of JSON. Lengths make replies of any size, and streams of
/// events, unambiguous to read.
///
/// Kinds: `hello` (once, on connect), `event` (zero or more per command: tail lines, progress),
/// `reply` (exactly one per command, last).
public struct Frame: Sendable, Equatable {
    /// What the frame is.
    public enum Kind: String, Sendable {
        case hello, event, reply
    }

    /// What the frame is.
    public let kind: Kind
    /// The JSON payload.
    public let payload: JSONValue

    /// A frame of `kind` carrying `payload`.
    public init(_ kind: Kind, _ payload: JSONValue) {
        self.kind = kind
        self.payload = payload
    }

    /// The frame's bytes on the wire.
    public var encoded: [UInt8] {
        let body = Array(payload.jsonText.utf8)
        return Array("\(kind.rawValue) \(body.count)\n".utf8) + body + [10]
    }

    /// A reply: human `text`, machine `data`, success or an error with a reason.
    public static func reply(ok: Bool, command: String, text: String, data: JSONValue = .null, reason: String? = nil) -> Frame {
        var o = JSONObject()
        o["ok"] = .bool(ok)
        o["command"] = .string(command)
        o["text"] = .string(text)
        o["data"] = data
        if let reason { o["reason"] = .string(reason) }
        return Frame(.reply, .object(o))
    }

    /// A streamed item: human `text` and machine `data`.
    public static func event(text: String, data: JSONValue = .null) -> Frame {
        Frame(.event, ["text": .string(text), "data": data])
    }
}

/// Reads frames from a byte stream that arrives in arbitrary pieces.
public struct FrameDecoder: Sendable {
    /// The largest payload a frame may announce (a pasted heredoc fits many times over).
    public static let maxFrameLength = 16 << 20

    private var buffer: [UInt8] = []

    /// An empty decoder.
    public init() {}

    /// The problem with the bytes received.
    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Adds received bytes.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or `nil` if more bytes are needed.
    public mutating func next() throws(Malformed) -> Frame? {
        guard let newline = buffer.firstIndex(of: 10) else {
            if buffer.count > 64 { throw Malformed(description: "frame header too long") }
            return nil
        }
        let header = String(decoding: buffer[..<newline], as: UTF8.self).split(separator: " ")
        guard header.count == 2, let kind = Frame.Kind(rawValue: String(header[0])), let length = Int(header[1]), length >= 0 else {
            throw Malformed(description: "bad frame header \"\(String(decoding: buffer[..<newline], as: UTF8.self))\"")
        }
        guard length <= Self.maxFrameLength else {
            throw Malformed(description: "a frame is at most \(Self.maxFrameLength) bytes, this one says \(length)")
        }
        let start = newline + 1
        guard buffer.count >= start + length + 1 else { return nil }
        let body = Array(buffer[start..<(start + length)])
        guard buffer[start + length] == 10 else { throw Malformed(description: "frame not followed by a newline") }
        buffer.removeFirst(start + length + 1)
        do {
            return Frame(kind, try JSONParser.parse(body).value)
        } catch {
            throw Malformed(description: "frame payload is not JSON: \(error)")
        }
    }
}
