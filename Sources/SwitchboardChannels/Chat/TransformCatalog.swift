import Switchboard

/// The transforms a channel's `"transforms"` list may name, with their parameters.
///
/// Entries are written as a name (`"emoticons"`) or as an object with one key, the name,
/// holding the parameters (`{"censor": {"words": ["darn"], "mode": "drop"}}`).
public struct TransformCatalog: Sendable {
    /// Makes a transform from its parameters (`nil` when written as a bare name). Problems go
    /// to the reader.
    public typealias Factory = @Sendable (ConfigReader?) -> Transform<Message, Message>

    private var factories: [String: Factory] = [:]

    /// An empty catalog.
    public init() {}

    /// Adds (or replaces) the transform `name`.
    public mutating func register(_ name: String, _ factory: @escaping Factory) {
        factories[name] = factory
    }

    /// The names, sorted.
    public var names: [String] { factories.keys.sorted() }

    /// Reads the array at `key` of `config` into transforms and their names, recording
    /// unknown names (with suggestions) and bad parameters.
    public func read(_ config: ConfigReader, key: String = "transforms") -> (transforms: [Transform<Message, Message>], names: [String]) {
        guard let entries = config.array(key) else { return ([], []) }
        var transforms: [Transform<Message, Message>] = []
        var names: [String] = []
        for (path, entry) in entries {
            let name: String
            var params: ConfigReader?
            switch entry {
            case .string(let n):
                name = n
            case .object(let o) where o.count == 1:
                name = o.keys[0]
                switch o[name]! {
                case .object(let p): params = config.child(p, at: path.appending(name))
                case .bool(true), .null: break
                case let other:
                    config.issue(.wrongType, at: path.appending(name), "expected an object of parameters, found \(other.kindName)")
                    continue
                }
            default:
                config.issue(.wrongType, at: path, "expected a transform name or {\"name\": {parameters}}, found \(entry.kindName)")
                continue
            }
            guard let factory = factories[name] else {
                config.issue(.unknownType, at: path, "unknown transform \"\(name)\"" + Suggestions.didYouMean(name, in: factories.keys)
                    + "; known: " + self.names.joined(separator: ", "))
                continue
            }
            transforms.append(factory(params))
            names.append(name)
        }
        return (transforms, names)
    }
}

extension TransformCatalog {
    /// censor, autocorrect, emoticons, code and trim.
    public static let standard: TransformCatalog = {
        var c = TransformCatalog()
        c.register("censor") { p in
            let words = p?.strings("words") ?? ChatTransforms.defaultCensoredWords
            let mode = p?.oneOf("mode", ChatTransforms.CensorMode.allCases.map(\.rawValue), default: "mask") ?? "mask"
            var mask: Character = "*"
            if let m = p?.string("mask") {
                if m.count == 1 { mask = m.first! } else { p?.issue(.invalidValue, "mask", "expected a single character") }
            }
            return ChatTransforms.censor(words: words, mode: ChatTransforms.CensorMode(rawValue: mode) ?? .mask, mask: mask)
        }
        c.register("autocorrect") { p in
            var table = p?.bool("defaults", default: true) == false ? [:] : ChatTransforms.defaultCorrections
            for (k, v) in p?.stringMap("dictionary") ?? [] { table[k] = v }
            return ChatTransforms.autocorrect(table)
        }
        c.register("emoticons") { p in
            var table = p?.bool("defaults", default: true) == false ? [:] : ChatTransforms.defaultEmoticons
            for (k, v) in p?.stringMap("table") ?? [] { table[k] = v }
            return ChatTransforms.emoticons(table)
        }
        c.register("code") { _ in ChatTransforms.code() }
        c.register("trim") { _ in
            .compactMap { m in
                var m = m
                m.text = m.text.trimmingSpaces()
                return m.text.isEmpty && m.data == nil ? nil : m
            }
        }
        return c
    }()
}
