import Foundation
import Hummingbird
import NIOCore
import Switchboard
import SwitchboardChannels

/// Turns a request body (JSON, form or plain text) into the parts of a message, or a
/// client error.
enum MessageInput {
    typealias Parts = MessageFields

    enum Problem: Error {
        case badJSON(String)
        case missingText
        case invalid(String)
        case unsupportedType(String)
        case textTooLong(Int, limit: Int)
        /// A form body that is JSON (what `curl -d '{…}'` sends, with a form content type).
        case jsonSentAsForm
    }

    static let maxNameLength = MessageFields.maxNameLength

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
            guard case .object = value else { throw .badJSON("expected a JSON object, found \(value.kindName)") }
            return try fields(value, strict: true)
        case "application/x-www-form-urlencoded":
            let form = formFields(String(decoding: bytes, as: UTF8.self))
            if form["text"] == nil, looksLikeJSON(bytes) { throw .jsonSentAsForm }
            return try fields(.object(JSONObject(["from", "text", "room"].compactMap { k in form[k].map { (k, JSONValue.string($0)) } })), strict: false)
        case "text/plain", "":
            guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalid("the body is not UTF-8 text") }
            var o: JSONObject = ["text": .string(text)]
            for k in ["from", "room"] { if let v = query(k) { o[k] = .string(v) } }
            return try fields(.object(o), strict: false)
        case let other:
            throw .unsupportedType(other)
        }
    }

    /// The one message decoder's rules for `POST /messages`: no private messages yet.
    private static func fields(_ value: JSONValue, strict: Bool) throws(Problem) -> Parts {
        do {
            return try MessageFields.decode(value, rules: .init(refusesUnknownKeys: strict))
        } catch .missingText {
            throw .missingText
        } catch {
            throw .invalid(error.description)
        }
    }

    /// Whether `bytes` is a JSON object or array.
    static func looksLikeJSON(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else {
            return false
        }
        return (try? JSONParser.parse(bytes)) != nil
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
