/// The chat transforms: censor, autocorrect, emoticons and code spans.
///
/// The word transforms work on prose only: text inside backticks is code and is left alone.
public enum ChatTransforms {
    /// What `censor` does with a message holding a listed word.
    public enum CensorMode: String, Sendable, CaseIterable {
        /// Replaces each letter of the word with the mask character.
        case mask
        /// Drops the whole message.
        case drop
    }

    /// Words `censor` masks when none are configured.
    public static let defaultCensoredWords = ["darn", "heck", "crud", "dang", "frick"]

    /// Masks (or drops the message for) whole words of `words`, case-insensitively.
    public static func censor(words: [String], mode: CensorMode = .mask, mask: Character = "*") -> Transform<Message, Message> {
        let banned = Set(words.map { $0.lowercased() })
        switch mode {
        case .drop:
            return .filter { !ProseText.containsWord($0.text) { banned.contains($0.lowercased()) } }
        case .mask:
            return .map { message in
                var m = message
                m.text = ProseText.mapProse(m.text) { prose in
                    ProseText.mapWords(prose) { word in
                        banned.contains(word.lowercased()) ? String(repeating: mask, count: word.count) : nil
                    }
                }
                return m
            }
        }
    }

    /// Common typing mistakes `autocorrect` fixes when no dictionary replaces them.
    public static let defaultCorrections: [String: String] = [
        "teh": "the", "adn": "and", "recieve": "receive", "recieved": "received", "seperate": "separate",
        "definately": "definitely", "untill": "until", "wich": "which", "becuase": "because", "thier": "their",
        "occured": "occurred", "tommorow": "tomorrow", "wierd": "weird", "alot": "a lot", "dont": "don't",
        "cant": "can't", "wont": "won't", "doesnt": "doesn't", "isnt": "isn't", "didnt": "didn't",
    ]

    /// Replaces whole words found in `corrections` (keys compared case-insensitively),
    /// keeping the writer's capitalisation: `teh` → `the`, `Teh` → `The`, `TEH` → `THE`.
    public static func autocorrect(_ corrections: [String: String]) -> Transform<Message, Message> {
        let table = Dictionary(corrections.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { _, b in b })
        return .map { message in
            var m = message
            m.text = ProseText.mapProse(m.text) { prose in
                ProseText.mapWords(prose) { word in
                    table[word.lowercased()].map { matchCase(of: word, $0) }
                }
            }
            return m
        }
    }

    static func matchCase(of original: Substring, _ replacement: String) -> String {
        let letters = original.filter(\.isLetter)
        if letters.count > 1, letters.allSatisfy(\.isUppercase) { return replacement.uppercased() }
        if let first = original.first, first.isUppercase { return replacement.prefix(1).uppercased() + replacement.dropFirst() }
        return replacement
    }

    /// The emoticons `emoticons` replaces by default.
    public static let defaultEmoticons: [String: String] = [
        ":)": "🙂", ":-)": "🙂", ":(": "🙁", ":-(": "🙁", ":D": "😄", ":-D": "😄", ";)": "😉", ";-)": "😉",
        ":P": "😛", ":p": "😛", ":-P": "😛", ":o": "😮", ":O": "😮", "<3": "❤️", ":'(": "😢", ":|": "😐",
        "xD": "😆", "XD": "😆", ":*": "😘", "B)": "😎",
    ]

    /// Replaces emoticons standing on their own (between spaces or at the ends) by emoji.
    public static func emoticons(_ table: [String: String]) -> Transform<Message, Message> {
        let longest = table.keys.map(\.unicodeScalars.count).max() ?? 0
        return .map { message in
            var m = message
            m.text = ProseText.mapProse(m.text) { prose in
                // Tokens between whitespace; only tokens short enough to be an emoticon are
                // looked up, and unchanged stretches are copied whole.
                let scalars = prose.unicodeScalars
                var out = ""
                var copiedUpTo = scalars.startIndex
                var start = scalars.startIndex
                var length = 0
                func token(endingAt end: String.Index) {
                    defer { length = 0 }
                    guard length > 0, length <= longest, let emoji = table[String(prose[start..<end])] else { return }
                    out += prose[copiedUpTo..<start]
                    out += emoji
                    copiedUpTo = end
                }
                var i = scalars.startIndex
                while i < scalars.endIndex {
                    if scalars[i].properties.isWhitespace {
                        token(endingAt: i)
                        start = scalars.index(after: i)
                    } else {
                        length += 1
                    }
                    i = scalars.index(after: i)
                }
                token(endingAt: scalars.endIndex)
                if copiedUpTo == scalars.startIndex { return prose }
                return out + prose[copiedUpTo...]
            }
            return m
        }
    }

    /// Marks backtick spans as code: the backticks go, a `code` span covers what they held.
    public static func code() -> Transform<Message, Message> {
        .map { message in
            guard message.text.contains("`") else { return message }
            var m = message
            var text = ""
            var offset = 0  // text.utf16.count, kept as it grows (counting it anew is linear)
            var spans = message.spans
            for segment in ProseText.segments(message.text) {
                guard segment.isCode else {
                    text += segment.text
                    offset += segment.text.utf16.count
                    continue
                }
                let fence = segment.text.hasPrefix("```") ? 3 : 1
                var body = String(segment.text.dropFirst(fence).dropLast(fence))
                if fence == 3, body.hasPrefix("\n") { body.removeFirst() }
                let length = body.utf16.count
                spans.append(TextSpan(kind: "code", start: offset, length: length))
                text += body
                offset += length
            }
            m.text = text
            m.spans = spans
            return m
        }
    }
}
