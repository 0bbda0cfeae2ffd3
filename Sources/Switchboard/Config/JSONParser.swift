/// A strict JSON parser that keeps key order, reports duplicate keys by path, and says
/// where (line and column) the text stops being JSON.
package struct JSONParser {
    /// The text is not JSON.
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        /// What was expected or found.
        public let reason: String
        /// 1-based line of the offending character.
        public let line: Int
        /// 1-based column of the offending character.
        public let column: Int
        public var description: String { "invalid JSON at line \(line), column \(column): \(reason)" }
    }

    /// The parsed value and the paths of keys that appeared twice in one object.
    public struct Result: Sendable {
        public let value: JSONValue
        public let duplicateKeys: [ConfigPath]
    }

    private let bytes: [UInt8]
    private var index = 0
    private var duplicates: [ConfigPath] = []
    private var depth = 0

    /// Parses a whole document; trailing non-space text is an error.
    public static func parse(_ text: String) throws(SyntaxError) -> Result {
        try parse(Array(text.utf8))
    }

    /// Parses a whole document from UTF-8 bytes; trailing non-space text is an error.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> Result {
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.parseValue(path: ConfigPath())
        parser.skipSpace()
        if parser.index < bytes.count { throw parser.error("unexpected text after the end of the document") }
        return Result(value: value, duplicateKeys: parser.duplicates)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ reason: String) -> SyntaxError {
        var line = 1
        var column = 1
        for b in bytes[..<min(index, bytes.count)] {
            if b == UInt8(ascii: "\n") { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        return SyntaxError(reason: reason, line: line, column: column)
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while let b = current, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 }
    }

    private mutating func expect(_ c: Character) throws(SyntaxError) {
        guard current == c.asciiValue else { throw error("expected '\(c)'") }
        index += 1
    }

    private mutating func parseValue(path: ConfigPath) throws(SyntaxError) -> JSONValue {
        guard let b = current else { throw error("unexpected end of text") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(path: path)
        case UInt8(ascii: "["): return try parseArray(path: path)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(b)))'")
        }
    }

    private mutating func literal(_ word: String) throws(SyntaxError) {
        for c in word.utf8 {
            guard current == c else { throw error("expected '\(word)'") }
            index += 1
        }
    }

    private mutating func nest() throws(SyntaxError) {
        depth += 1
        if depth > 512 { throw error("nested more than 512 levels deep") }
    }

    private mutating func parseObject(path: ConfigPath) throws(SyntaxError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        index += 1
        var object = JSONObject()
        skipSpace()
        if current == UInt8(ascii: "}") { index += 1; return .object(object) }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a key in double quotes") }
            let key = try parseString()
            skipSpace()
            try expect(":")
            skipSpace()
            let value = try parseValue(path: path.appending(key))
            if object[key] != nil { duplicates.append(path.appending(key)) } else { object[key] = value }
            skipSpace()
            if current == UInt8(ascii: ",") { index += 1; continue }
            if current == UInt8(ascii: "}") { index += 1; return .object(object) }
            throw error("expected ',' or '}' after a member")
        }
    }

    private mutating func parseArray(path: ConfigPath) throws(SyntaxError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        index += 1
        var items: [JSONValue] = []
        skipSpace()
        if current == UInt8(ascii: "]") { index += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try parseValue(path: path.appending(items.count)))
            skipSpace()
            if current == UInt8(ascii: ",") { index += 1; continue }
            if current == UInt8(ascii: "]") { index += 1; return .array(items) }
            throw error("expected ',' or ']' after an element")
        }
    }

    private mutating func parseString() throws(SyntaxError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var run = index
        var buffer: [UInt8] = []
        while true {
            guard let b = current else { throw error("unterminated string") }
            if b == UInt8(ascii: "\"") {
                buffer.append(contentsOf: bytes[run..<index])
                index += 1
                break
            }
            if b < 0x20 { throw error("control character in a string") }
            if b == UInt8(ascii: "\\") {
                buffer.append(contentsOf: bytes[run..<index])
                index += 1
                guard let e = current else { throw error("unterminated escape") }
                index += 1
                switch e {
                case UInt8(ascii: "\""): buffer.append(0x22)
                case UInt8(ascii: "\\"): buffer.append(0x5C)
                case UInt8(ascii: "/"): buffer.append(0x2F)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u")
                        else { throw error("unpaired surrogate in \\u escape") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    buffer.append(contentsOf: Array(String(Unicode.Scalar(code)!).utf8))
                default: throw error("unknown escape '\\\(Character(Unicode.Scalar(e)))'")
                }
                run = index
                continue
            }
            index += 1
        }
        guard let s = String(validating: buffer, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        scalars.append(contentsOf: s.unicodeScalars)
        return String(scalars)
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = current, let d = Character(Unicode.Scalar(b)).hexDigitValue else {
                throw error("expected four hex digits after \\u")
            }
            v = v * 16 + UInt32(d)
            index += 1
        }
        return v
    }

    private mutating func parseNumber() throws(SyntaxError) -> JSONValue {
        let start = index
        var isInteger = true
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw error("expected a digit")
        }
        if first == UInt8(ascii: "0") { index += 1 } else { skipDigits() }
        if current == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard let d = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { throw error("expected a digit after '.'") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let d = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { throw error("expected a digit in the exponent") }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw error("number out of range") }
        return .double(d)
    }

    private mutating func skipDigits() {
        while let b = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) { index += 1 }
    }
}
