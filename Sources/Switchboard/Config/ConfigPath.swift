/// Where a value sits in `system.json`, written the way people read it:
/// `components.inbox.transforms[1].censor.words`.
public struct ConfigPath: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// One step into an object (by key) or an array (by index).
    public enum Element: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    /// The steps from the document's root.
    public private(set) var elements: [Element]

    /// The root of the document.
    public init(_ elements: [Element] = []) { self.elements = elements }

    /// A path of object keys, e.g. `ConfigPath("components", "inbox")`.
    public init(_ keys: String...) { self.elements = keys.map(Element.key) }

    /// This path followed by `key`.
    public func appending(_ key: String) -> ConfigPath { ConfigPath(elements + [.key(key)]) }

    /// This path followed by `index`.
    public func appending(_ index: Int) -> ConfigPath { ConfigPath(elements + [.index(index)]) }

    /// The last key of the path, if it ends in one.
    public var lastKey: String? {
        if case .key(let k)? = elements.last { return k }
        return nil
    }

    public var description: String {
        if elements.isEmpty { return "(root)" }
        var out = ""
        for element in elements {
            switch element {
            case .index(let i): out += "[\(i)]"
            case .key(let k):
                if !k.isEmpty, k.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "$" }) {
                    out += out.isEmpty ? k : ".\(k)"
                } else {
                    var quoted = ""
                    JSONValue.writeString(k, to: &quoted)
                    out += "[\(quoted)]"
                }
            }
        }
        return out
    }

    public static func < (lhs: ConfigPath, rhs: ConfigPath) -> Bool {
        for (l, r) in zip(lhs.elements, rhs.elements) where l != r {
            switch (l, r) {
            case (.key(let a), .key(let b)): return a < b
            case (.index(let a), .index(let b)): return a < b
            case (.index, .key): return true
            case (.key, .index): return false
            }
        }
        return lhs.elements.count < rhs.elements.count
    }
}
