import Foundation
import Switchboard
import Synchronization

/// The one message type that flows through a system: who sent what, when, where.
public struct Message: Sendable, Equatable, Identifiable {
    /// The room of a message that names none, unless an endpoint's `defaultRoom` (or a pub's
    /// `defaultTopic`) says otherwise: the chat's one place for it.
    public static let defaultRoom = "lobby"

    /// Assigned once, when the message is made.
    public let id: MessageID
    /// When the message entered the system.
    public let time: Date
    /// The sender's name.
    public var from: String
    /// The room (topic) it was sent to, if any.
    public var room: String?
    /// The recipient of a private message, if any.
    public var to: String?
    /// The text.
    public var text: String
    /// Structured payload (e.g. a webhook's JSON), if any.
    public var data: JSONValue?
    /// Marked ranges of `text` (code spans), in UTF-16 offsets for browsers.
    public var spans: [TextSpan]

    /// A new message with a fresh id and the current time.
    public init(from: String, text: String, room: String? = nil, to: String? = nil, data: JSONValue? = nil,
                id: MessageID = .next(), time: Date = Date(), spans: [TextSpan] = []) {
        self.id = id
        self.time = time
        self.from = from
        self.room = room
        self.to = to
        self.text = text
        self.data = data
        self.spans = spans
    }

    /// The message as JSON: `id` (a decimal string), `time` (ISO 8601), `from`, `room`,
    /// `to`, `text`, `data`, `spans` (absent fields left out).
    public var json: JSONValue {
        var o = JSONObject()
        o["id"] = .string(id.description)
        o["time"] = .string(LifecycleEvent.timestamp(time))
        o["from"] = .string(from)
        if let room { o["room"] = .string(room) }
        if let to { o["to"] = .string(to) }
        o["text"] = .string(text)
        if let data { o["data"] = data }
        if !spans.isEmpty { o["spans"] = .array(spans.map(\.json)) }
        return .object(o)
    }

    /// `json.jsonText` — with a last member `"type": type` when given — written straight into
    /// the text: every stream endpoint encodes each message once, and building the JSON object
    /// first cost about 2 µs a message (profiled). The same bytes as `json` (tested).
    public func jsonText(type: String? = nil) -> String {
        var out = "{\"id\":\""
        out += id.description
        out += "\",\"time\":\""
        out += LifecycleEvent.timestamp(time)
        out += "\",\"from\":"
        JSONValue.writeString(from, to: &out)
        if let room {
            out += ",\"room\":"
            JSONValue.writeString(room, to: &out)
        }
        if let to {
            out += ",\"to\":"
            JSONValue.writeString(to, to: &out)
        }
        out += ",\"text\":"
        JSONValue.writeString(text, to: &out)
        if let data {
            out += ",\"data\":"
            out += data.jsonText
        }
        if !spans.isEmpty {
            out += ",\"spans\":"
            out += JSONValue.array(spans.map(\.json)).jsonText
        }
        if let type {
            out += ",\"type\":"
            JSONValue.writeString(type, to: &out)
        }
        out += "}"
        return out
    }
}

/// A marked range of a message's text.
public struct TextSpan: Sendable, Equatable {
    /// What the range is (`code`).
    public var kind: String
    /// Start, in UTF-16 code units.
    public var start: Int
    /// Length, in UTF-16 code units.
    public var length: Int

    /// A span of `kind` over `length` UTF-16 units from `start`.
    public init(kind: String, start: Int, length: Int) {
        self.kind = kind
        self.start = start
        self.length = length
    }

    /// `{"kind", "start", "length"}`.
    public var json: JSONValue { ["kind": .string(kind), "start": .int(start), "length": .int(length)] }

    /// A span from its JSON form; nil when a field is missing or of the wrong kind.
    public init?(json: JSONValue) {
        guard case .object(let o) = json, let kind = o["kind"]?.stringValue, let start = o["start"]?.intValue,
            let length = o["length"]?.intValue
        else { return nil }
        self.init(kind: kind, start: start, length: length)
    }
}

// MARK: - Identity

/// A message's identity: unique and ordered within the system, the same everywhere (SSE
/// `id:`, WebSocket frames, `webhook-id`, the `Last-Event-ID` resume cursor).
///
/// The value is microseconds since 1970, bumped by one where two messages would share a
/// microsecond, so ids also keep growing across restarts of the process.
public struct MessageID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The numeric value.
    public let rawValue: UInt64

    /// An id with this value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The greatest id a store can hold (a signed 64-bit column): 9223372036854775807.
    public static let greatest = MessageID(rawValue: UInt64(Int64.max))

    /// Parses the decimal form (as sent in `Last-Event-ID`): a whole number from 1 to
    /// `greatest`; `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard let v = UInt64(text), v > 0, v <= Self.greatest.rawValue else { return nil }
        rawValue = v
    }

    /// An id read back from a store's signed column; `nil` for a value no id has (zero or
    /// below, from a damaged or hand-edited file).
    public init?(stored value: some BinaryInteger) {
        guard value > 0, let v = UInt64(exactly: value), v <= Self.greatest.rawValue else { return nil }
        rawValue = v
    }

    /// The value as a store's signed column holds it; ids past `greatest` (which no parser
    /// accepts) clamp to it.
    public var storedValue: Int64 { Int64(clamping: rawValue) }

    /// What a client is told when a text is not an id: the range, in words.
    public static let expected = "a message id (a whole number from 1 to \(greatest.rawValue))"

    /// A fresh id, greater than every id made before it in this process.
    public static func next() -> MessageID {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
        return MessageID(rawValue: last.withLock { last in
            last = max(last + 1, now)
            return last
        })
    }

    /// Makes every later `next()` greater than `id`: a store calls it on start with the newest
    /// id it holds, so ids keep growing after a restart even if the clock moved back.
    public static func advance(past id: MessageID) {
        last.withLock { $0 = max($0, id.rawValue) }
    }

    private static let last = Mutex<UInt64>(0)

    public var description: String { String(rawValue) }

    public static func < (lhs: MessageID, rhs: MessageID) -> Bool { lhs.rawValue < rhs.rawValue }
}

// MARK: - Fields as a client sends them

/// The fields of a message as a client sends them — `{"text", "from", "room", "to", "data"}` —
/// read by one set of rules wherever a message comes in: `POST /messages`, a WebSocket frame,
/// the console's `put!`.
///
/// Names (`from`, `room`, `to`) are trimmed, at most `maxNameLength` characters, and an empty
/// one counts as absent. `text` is a string that is not blank. Wrong types, unknown fields
/// (with a suggestion) and fields the entry does not take are refused with the reason.
public struct MessageFields: Sendable, Equatable {
    public var text: String
    public var from: String?
    public var room: String?
    public var to: String?
    public var data: JSONValue?

    public init(text: String, from: String? = nil, room: String? = nil, to: String? = nil, data: JSONValue? = nil) {
        self.text = text
        self.from = from
        self.room = room
        self.to = to
        self.data = data
    }

    /// The longest sender, room or recipient name.
    public static let maxNameLength = 100

    /// What an entry takes.
    public struct Rules: Sendable {
        /// Whether the sender may name itself (`from`); a WebSocket session's sender is its name.
        public var allowsFrom: Bool
        /// Whether a message may carry only `data` (then `text` may be absent or empty).
        public var allowsDataOnly: Bool
        /// Keys that belong to the entry rather than the message (a WebSocket's `name`).
        public var controlKeys: Set<String>
        /// Whether a key the message does not have is refused (forms and query strings are not
        /// that strict: a form carries its submit button's name too).
        public var refusesUnknownKeys: Bool

        public init(allowsFrom: Bool = true, allowsDataOnly: Bool = false, controlKeys: Set<String> = [],
                    refusesUnknownKeys: Bool = true) {
            self.allowsFrom = allowsFrom
            self.allowsDataOnly = allowsDataOnly
            self.controlKeys = controlKeys
            self.refusesUnknownKeys = refusesUnknownKeys
        }
    }

    /// Why fields were refused.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case notAnObject(found: String)
        case missingText
        case wrongType(field: String, found: String)
        case tooLong(field: String)
        case unknownField(String, suggestion: String)
        case notTaken(field: String)

        public var description: String {
            switch self {
            case .notAnObject(let found): "expected a JSON object like {\"text\": \"hi\"}, found \(found)"
            case .missingText: "missing text"
            case .wrongType(let field, let found): "\"\(field)\" must be a string, found \(found)"
            case .tooLong(let field): "\"\(field)\" is longer than \(MessageFields.maxNameLength) characters"
            case .unknownField(let key, let suggestion): "unknown field \"\(key)\"\(suggestion); a message has text, from, room, to, data"
            case .notTaken(let field):
                field == "from" ? "\"from\" is not taken here: the sender is the connection's name" : "\"\(field)\" is not taken here"
            }
        }
    }

    static let keys: Set<String> = ["text", "from", "room", "to", "data"]

    /// Reads `value` (a JSON object) by `rules`.
    public static func decode(_ value: JSONValue, rules: Rules) throws(Problem) -> MessageFields {
        guard case .object(let o) = value else { throw .notAnObject(found: value.kindName) }
        if rules.refusesUnknownKeys, let extra = o.keys.first(where: { !keys.contains($0) && !rules.controlKeys.contains($0) }) {
            throw .unknownField(extra, suggestion: Suggestions.didYouMean(extra, in: keys))
        }
        let data = o["data"].flatMap { $0 == .null ? nil : $0 }
        let text: String
        switch o["text"] {
        case .string(let t)? where !t.trimmingSpaces().isEmpty: text = t
        case .string?, nil, .null?:
            guard rules.allowsDataOnly, data != nil else { throw .missingText }
            text = o["text"]?.stringValue ?? ""
        case let other?: throw .wrongType(field: "text", found: other.kindName)
        }
        let to = try name(o["to"], "to")
        let from = try name(o["from"], "from")
        if from != nil, !rules.allowsFrom { throw .notTaken(field: "from") }
        return MessageFields(text: text, from: from, room: try name(o["room"], "room"), to: to, data: data)
    }

    /// A trimmed name, nil when absent or empty.
    static func name(_ value: JSONValue?, _ field: String) throws(Problem) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?:
            let trimmed = s.trimmingSpaces()
            guard trimmed.count <= maxNameLength else { throw .tooLong(field: field) }
            return trimmed.isEmpty ? nil : trimmed
        case let other?: throw .wrongType(field: field, found: other.kindName)
        }
    }

    /// The message these fields make, sent by `from` (or `defaultFrom`).
    public func message(defaultFrom: String) -> Message {
        Message(from: from ?? defaultFrom, text: text, room: room, to: to, data: data)
    }
}
