import Foundation
import Testing

/// Every Swift code block of the documentation — the README, the guide's articles
/// (`Switchboard.docc`) and the symbol documentation in `Sources` — is compiled: its lines (blank
/// ones aside, each trimmed) stand one after another in a Swift file that a build compiles (the
/// tests, or the example package in `dev/examples`, which CI builds). A block that is changed
/// without its compiled copy, or written without one, fails here naming both places to look.
@Suite struct DocsCodeBlocksTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Block: CustomStringConvertible {
        let file: String
        let line: Int
        let lines: [String]
        var description: String { "\(file):\(line)" }
    }

    static func swiftFiles(under folder: String) -> [String] {
        let base = root.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { ($0 as? URL)?.path }.filter { $0.hasSuffix(".swift") && !$0.contains("/.build") }
    }

    static func normalized(_ lines: some Sequence<Substring>) -> [String] {
        lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The ```swift blocks of a Markdown text, or of the `///` comments of a Swift file.
    static func blocks(of path: String, comments: Bool) throws -> [Block] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let relative = String(path.dropFirst(root.path.count + 1))
        var found: [Block] = []
        var current: (line: Int, lines: [Substring])?
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw
            if comments {
                let t = raw.drop { $0 == " " }
                guard t.hasPrefix("///") else { current = nil; continue }
                line = t.dropFirst(3)
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil, trimmed == "```swift" {
                current = (i + 1, [])
            } else if let c = current, trimmed == "```" {
                found.append(Block(file: relative, line: c.line, lines: normalized(c.lines)))
                current = nil
            } else {
                current?.lines.append(line)
            }
        }
        return found
    }

    static func contains(_ haystack: [String], _ needle: [String]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count else { return needle.isEmpty }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return true }
        }
        return false
    }

    @Test func everySwiftBlockOfTheDocsIsCompiled() throws {
        let docc = Self.root.appendingPathComponent("Sources/Switchboard/Switchboard.docc").path
        let articles = try FileManager.default.contentsOfDirectory(atPath: docc).filter { $0.hasSuffix(".md") }.map { docc + "/" + $0 }
        var blocks = try ([Self.root.appendingPathComponent("README.md").path] + articles).flatMap { try Self.blocks(of: $0, comments: false) }
        let symbolBlocks = try Self.swiftFiles(under: "Sources").flatMap { try Self.blocks(of: $0, comments: true) }
        blocks += symbolBlocks
        // Not vacuous: the guide's examples and the symbol documentation's are all found.
        #expect(blocks.count - symbolBlocks.count >= 5, "\(blocks)")
        #expect(symbolBlocks.count >= 12, "\(symbolBlocks)")
        let compiled = try (Self.swiftFiles(under: "Tests") + Self.swiftFiles(under: "dev/examples/Sources") + Self.swiftFiles(under: "dev/examples/Tests"))
            .map { path in (path, Self.normalized(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false))) }
        for block in blocks {
            let home = compiled.first { Self.contains($0.1, block.lines) }
            #expect(home != nil, "the Swift block at \(block) is in no compiled file (Tests/, dev/examples/): copy it into one, or mend the copy it drifted from:\n\(block.lines.joined(separator: "\n"))")
        }
    }

    @Test func theCheckFindsABlockThatDrifted() {
        let file = ["import Switchboard", "let a = 1", "let b = 2", "print(a + b)"]
        #expect(Self.contains(file, ["let a = 1", "let b = 2"]))
        #expect(!Self.contains(file, ["let a = 1", "print(a + b)"]), "lines must stand one after another")
        #expect(!Self.contains(file, ["let a = 10"]))
    }
}
