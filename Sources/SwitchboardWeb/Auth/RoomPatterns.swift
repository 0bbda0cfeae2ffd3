/// The rooms a token lets its user into: names, or patterns with `*` (`dev-*`, `*`).
public struct RoomPatterns: Sendable, Equatable, CustomStringConvertible {
    /// The patterns as given.
    public let patterns: [String]

    /// The patterns in `patterns`.
    public init(_ patterns: [String]) {
        self.patterns = patterns
    }

    /// No room at all.
    public static let none = RoomPatterns([])
    /// Every room.
    public static let all = RoomPatterns(["*"])

    /// Whether `room` matches one of the patterns.
    public func allows(_ room: String) -> Bool {
        patterns.contains { Self.matches(Substring(room), Substring($0)) }
    }

    /// Whether every room is allowed.
    public var allowsEveryRoom: Bool { patterns.contains("*") }

    public var description: String { patterns.isEmpty ? "no room" : patterns.joined(separator: ", ") }

    /// Glob matching with `*` (any run of characters, none included); nothing else is special.
    static func matches(_ text: Substring, _ pattern: Substring) -> Bool {
        guard let star = pattern.firstIndex(of: "*") else { return text == pattern }
        let head = pattern[..<star]
        guard text.hasPrefix(head) else { return false }
        let rest = pattern[pattern.index(after: star)...]
        var tail = text.dropFirst(head.count)
        while true {
            if matches(tail, rest) { return true }
            guard !tail.isEmpty else { return false }
            tail = tail.dropFirst()
        }
    }
}
