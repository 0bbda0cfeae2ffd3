/// Splits chat text into prose and code (backtick spans), so the word transforms leave code
/// alone, and walks prose word by word.
enum ProseText {
    /// One piece of a text: prose, or a code span with its delimiters.
    struct Segment: Equatable {
        var text: String
        var isCode: Bool
    }

    /// The text cut at backtick spans (`` `x` `` or ```` ```x``` ````); an unclosed backtick is prose.
    static func segments(_ text: String) -> [Segment] {
        var out: [Segment] = []
        var prose = ""
        var rest = Substring(text)
        // Once a ``` has no closing ``` to the end of the text, no later one has either:
        // remembering it keeps the walk linear for text full of unclosed fences.
        var noClosingTriple = false
        while let tick = rest.firstIndex(of: "`") {
            let fence = rest[tick...].hasPrefix("```") ? "```" : "`"
            let bodyStart = rest.index(tick, offsetBy: fence.count)
            let close = fence == "```" && noClosingTriple ? nil : rest[bodyStart...].firstRange(of: fence)
            if fence == "```", close == nil { noClosingTriple = true }
            guard let close, close.lowerBound > bodyStart else {
                prose += rest[..<bodyStart]
                rest = rest[bodyStart...]
                continue
            }
            prose += rest[..<tick]
            if !prose.isEmpty { out.append(Segment(text: prose, isCode: false)); prose = "" }
            out.append(Segment(text: String(rest[tick..<close.upperBound]), isCode: true))
            rest = rest[close.upperBound...]
        }
        prose += rest
        if !prose.isEmpty { out.append(Segment(text: prose, isCode: false)) }
        return out
    }

    /// `text` with `transform` applied to each prose segment; code is kept as written.
    static func mapProse(_ text: String, _ transform: (String) -> String) -> String {
        guard text.contains("`") else { return transform(text) }
        return segments(text).map { $0.isCode ? $0.text : transform($0.text) }.joined()
    }

    /// `text` with each word (letters, digits, inner apostrophes) replaced by `replace(word)`,
    /// or kept when it returns `nil`.
    static func mapWords(_ text: String, _ replace: (Substring) -> String?) -> String {
        // Walks Unicode scalars (far cheaper than grapheme clusters); a combining mark after a
        // letter stays in its word. Unchanged stretches are copied whole, not scalar by scalar.
        let scalars = text.unicodeScalars
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var copiedUpTo = scalars.startIndex
        var i = scalars.startIndex
        while i < scalars.endIndex {
            guard isWordScalar(scalars[i]) else {
                i = scalars.index(after: i)
                continue
            }
            var j = scalars.index(after: i)
            while j < scalars.endIndex {
                let s = scalars[j]
                if isWordScalar(s) || s.properties.generalCategory == .nonspacingMark {
                    j = scalars.index(after: j)
                } else if s == "'", case let next = scalars.index(after: j), next < scalars.endIndex, isWordScalar(scalars[next]) {
                    j = next
                } else {
                    break
                }
            }
            if let replacement = replace(text[i..<j]) {
                out += text[copiedUpTo..<i]
                out += replacement
                copiedUpTo = j
            }
            i = j
        }
        if copiedUpTo == scalars.startIndex { return text }
        out += text[copiedUpTo...]
        return out
    }

    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        let p = s.properties
        return p.isAlphabetic || p.numericType != nil
    }

    /// Whether any word of the prose satisfies `predicate`.
    static func containsWord(_ text: String, where predicate: (Substring) -> Bool) -> Bool {
        var found = false
        _ = mapProse(text) { prose in
            _ = mapWords(prose) { word in
                if predicate(word) { found = true }
                return nil
            }
            return prose
        }
        return found
    }


}
