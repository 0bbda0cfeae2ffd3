import Foundation
import Switchboard

/// Splits console input into words: whitespace separates, single and double quotes group,
/// a backslash escapes the next character.
public enum CommandLineParser {
    /// A problem with the quoting.
    public struct Unbalanced: Error, CustomStringConvertible {
        public var description: String { "unbalanced quotes" }
    }

    /// The words of `line`.
    public static func words(_ line: String) throws(Unbalanced) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in line {
            if escaped { current.append(c); escaped = false; inWord = true; continue }
            if c == "\\" && quote != "'" { escaped = true; inWord = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            if c == "\"" || c == "'" { quote = c; inWord = true; continue }
            if c.isWhitespace {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(c)
            inWord = true
        }
        if quote != nil || escaped { throw Unbalanced() }
        if inWord { words.append(current) }
        return words
    }

    /// The first word of `line` and the raw rest (leading spaces removed), for commands that
    /// take free text.
    public static func head(_ line: String) -> (word: String, rest: String) {
        let trimmed = line.drop { $0.isWhitespace }
        let word = trimmed.prefix { !$0.isWhitespace }
        let rest = trimmed.dropFirst(word.count).drop { $0.isWhitespace }
        return (String(word), String(rest))
    }

    /// If `line` ends with a heredoc marker (`<<EOF`), the line without it and the marker.
    public static func heredoc(_ line: String) -> (line: String, marker: String)? {
        guard let r = line.range(of: "<<", options: .backwards) else { return nil }
        let marker = line[r.upperBound...].trimmingSpaces()
        guard !marker.isEmpty, marker.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        return (String(line[..<r.lowerBound]), marker)
    }

    /// The next command from `next`: a line, or for `cmd <<WORD` the line without the marker
    /// followed by the lines up to `WORD` (joined by newlines). Nil once `next` is exhausted.
    /// The one heredoc reader for the socket and for `source`.
    public static func command(_ next: () async -> String?) async -> String? {
        guard let line = await next() else { return nil }
        guard let (head, marker) = heredoc(line) else { return line }
        var body: [String] = []
        while let more = await next(), more != marker { body.append(more) }
        return head + body.joined(separator: "\n")
    }
}

