import Foundation
import Switchboard

/// `source FILE` is read on the console's side, with the console user's rights, and its
/// lines travel to the server as a heredoc: the server never opens a file for a console.
enum SourceFile {
    /// Ends the heredoc that carries a file's lines.
    static let marker = "SWITCHBOARD_SOURCE_END"

    /// A problem reading a file to source.
    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    /// `lines` with the file attached when they are a bare `source FILE` command; otherwise
    /// `lines` unchanged.
    static func attach(_ lines: [String]) throws(Unreadable) -> [String] {
        guard lines.count == 1, let path = target(of: lines[0]) else { return lines }
        let body = try read(path, depth: 0)
        let name = (path as NSString).lastPathComponent.map { $0.isWhitespace ? "_" : $0 }
        // The comment line keeps an empty file from reading as "no lines sent".
        return ["source \(String(name)) <<\(marker)", "# \(path)"] + body + [marker]
    }

    /// The file of a `source FILE` line without a heredoc, if that is what `line` is.
    static func target(of line: String) -> String? {
        guard CommandLineParser.heredoc(line) == nil,
            let words = try? CommandLineParser.words(line), words.count == 2, words[0] == "source" || words[0] == "."
        else { return nil }
        return words[1]
    }

    /// The file's lines, with nested `source` lines replaced by their files' lines.
    private static func read(_ path: String, depth: Int) throws(Unreadable) -> [String] {
        guard depth < 8 else { throw Unreadable(description: "source nests too deeply at \(path)") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Unreadable(description: "cannot read \(path)")
        }
        var out: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line == marker { throw Unreadable(description: "\(path) contains the line \(marker), which ends a sourced file") }
            if let nested = target(of: line.trimmingSpaces()) {
                let resolved = nested.hasPrefix("/") ? nested : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(nested)
                out += try read(FileManager.default.fileExists(atPath: resolved) ? resolved : nested, depth: depth + 1)
            } else {
                out.append(line)
            }
        }
        return out
    }

    /// File names completing the last word of `line` (the console's own directory).
    static func complete(_ line: String) -> [String]? {
        let (command, rest) = CommandLineParser.head(line)
        guard command == "source" || command == ".", line.contains(" ") else { return nil }
        let prefix = rest.trimmingSpaces()
        let dir = (prefix as NSString).deletingLastPathComponent
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? []
        return entries.map { dir.isEmpty ? $0 : (dir as NSString).appendingPathComponent($0) }.filter { $0.hasPrefix(prefix) }.sorted()
    }
}
