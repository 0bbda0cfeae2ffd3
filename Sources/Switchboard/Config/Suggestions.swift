/// "Did you mean …" for names typed in config files and at the console.
package enum Suggestions {
    /// The candidates closest to `word`, best first; empty when none is close.
    ///
    /// A candidate is close when its edit distance is at most a third of the longer word
    /// (at least 1, at most 3), or when one word is a prefix of the other.
    public static func closest(to word: String, in candidates: some Sequence<String>, limit: Int = 3) -> [String] {
        let w = word.lowercased()
        var scored: [(String, Int)] = []
        for candidate in Set(candidates) {
            let c = candidate.lowercased()
            let d = distance(w, c)
            let allowed = min(3, max(1, max(w.count, c.count) / 3))
            if d <= allowed || (w.count >= 2 && c.hasPrefix(w)) {
                scored.append((candidate, d))
            }
        }
        return scored.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(limit).map(\.0)
    }

    /// A sentence suffix such as ` (did you mean "mult"?)`, or an empty string.
    public static func didYouMean(_ word: String, in candidates: some Sequence<String>) -> String {
        let best = closest(to: word, in: candidates)
        guard !best.isEmpty else { return "" }
        return " (did you mean " + best.map { "\"\($0)\"" }.joined(separator: " or ") + "?)"
    }

    /// Levenshtein distance with adjacent transpositions counted as one edit.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prevprev = [Int](repeating: 0, count: b.count + 1)
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    cur[j] = min(cur[j], prevprev[j - 2] + 1)
                }
            }
            (prevprev, prev, cur) = (prev, cur, prevprev)
        }
        return prev[b.count]
    }
}
