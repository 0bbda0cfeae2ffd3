import Foundation
import Hummingbird
import NIOCore
import Switchboard
import SwitchboardChannels

/// Turns a request body (JSON, form or plain text) into the parts of a message, or a
/// client error.
enum MessageInput {
    struct Parts {
        var from: String?
        var text: String
        var room: String?
        var data: JSONValue?
    }

    enum Problem: Error {
        case badJSON(String)
        case missingText
        case invalid(String)
        case unsupportedType(String)
        case textTooLong(Int, limit: Int)
    }

    static let maxNameLength = 100

    /// The default longest message text, in UTF-8 bytes (a long chat message or a pasted
    /// stack trace; transforms on much more would hold up everyone else's messages).
    static let defaultMaxTextLength = 16_384

    /// Reads an endpoint's `maxTextLength` setting.
    static func maxTextLength(_ c: ConfigReader) -> Int {
        c.int("maxTextLength", default: defaultMaxTextLength, in: 1...16_777_216)
    }

    /// The refusal for a text over `limit` bytes, if it is.
    static func checkLength(_ text: String, limit: Int) -> Problem? {
        let n = text.utf8.count
        return n > limit ? .textTooLong(n, limit: limit) : nil
    }

    static func parse(_ body: ByteBuffer, mediaType: String?, query: (String) -> String?, maxTextLength: Int = defaultMaxTextLength) throws(Problem) -> Parts {
        let parts = try parse(body, mediaType: mediaType, query: query)
        if let problem = checkLength(parts.text, limit: maxTextLength) { throw problem }
        return parts
    }

    private static func parse(_ body: ByteBuffer, mediaType: String?, query: (String) -> String?) throws(Problem) -> Parts {
        let bytes = Array(body.readableBytesView)
        switch mediaType ?? "" {
        case "application/json":
            let value: JSONValue
            do { value = try JSONParser.parse(bytes).value } catch { throw .badJSON(error.description) }
            guard case .object(let o) = value else { throw .badJSON("expected a JSON object, found \(value.kindName)") }
            return try check(from: o["from"], text: o["text"], room: o["room"], data: o["data"])
        case "application/x-www-form-urlencoded":
            let fields = formFields(String(decoding: bytes, as: UTF8.self))
            return try check(from: fields["from"].map(JSONValue.string), text: fields["text"].map(JSONValue.string),
                             room: fields["room"].map(JSONValue.string), data: nil)
        case "text/plain", "":
            guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalid("the body is not UTF-8 text") }
            return try check(from: query("from").map(JSONValue.string), text: .string(text), room: query("room").map(JSONValue.string), data: nil)
        case let other:
            throw .unsupportedType(other)
        }
    }

    private static func check(from: JSONValue?, text: JSONValue?, room: JSONValue?, data: JSONValue?) throws(Problem) -> Parts {
        guard let text else { throw .missingText }
        guard case .string(let t) = text else { throw .invalid("\"text\" must be a string") }
        guard !t.trimmingSpaces().isEmpty else { throw .missingText }
        let name = try optionalString(from, "from")
        let roomName = try optionalString(room, "room")
        return Parts(from: name, text: t, room: roomName, data: data)
    }

    private static func optionalString(_ value: JSONValue?, _ field: String) throws(Problem) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?:
            let trimmed = s.trimmingSpaces()
            guard trimmed.count <= maxNameLength else { throw .invalid("\"\(field)\" is longer than \(maxNameLength) characters") }
            return trimmed.isEmpty ? nil : trimmed
        case let other?: throw .invalid("\"\(field)\" must be a string, found \(other.kindName)")
        }
    }

    /// `a=1&b=x+y` → ["a": "1", "b": "x y"] (percent-decoded).
    static func formFields(_ body: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            guard let key = kv.first.map(decode) else { continue }
            out[key] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return out
    }
}
