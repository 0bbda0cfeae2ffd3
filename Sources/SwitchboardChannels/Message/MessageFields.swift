import Switchboard

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
