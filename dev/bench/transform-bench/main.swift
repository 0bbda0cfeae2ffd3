// The chat transforms on long and hostile texts: milliseconds per message for the standard
// chain (trim, censor, autocorrect, emoticons, code), at 16 KiB (the default maxTextLength)
// and at 1 MiB, for prose and for texts built to make a quadratic walk show.
//
//   swift run -c release transform-bench [--rounds R]
import Foundation
import Switchboard
import SwitchboardChannels

let args = CommandLine.arguments
let rounds = args.firstIndex(of: "--rounds").flatMap { Int(args[$0 + 1]) } ?? 5
// `--only NAME` runs one transform of the chain (to find which one costs).
let all: [JSONValue] = ["trim", ["censor": ["words": ["darn", "heck"]]], "autocorrect", "emoticons", "code"]
let only = args.firstIndex(of: "--only").map { args[$0 + 1] }
let config = ConfigReader(["transforms": .array(only.map { name in all.filter { $0.stringValue == name || $0[name] != nil } } ?? all)])
let chain = Transform.chain(TransformCatalog.standard.read(config).transforms)

func text(_ unit: String, bytes: Int) -> String { String(repeating: unit, count: bytes / unit.utf8.count) }

let shapes: [(String, String)] = [
    ("prose", "teh quick darn fox :) jumps "),
    ("code spans", "`a` "),
    ("unclosed fence + spans", "`a` b "),
    ("backticks only", "`"),
    ("emoticons", ":) ;) <3 "),
]
let clock = ContinuousClock()
print("shape                     size      ms/message (median of \(rounds))")
for (name, unit) in shapes {
    for size in [16_384, 1 << 20] {
        var body = text(unit, bytes: size)
        if name.hasPrefix("unclosed") { body = "```" + body }
        let message = Message(from: "bench", text: body)
        var times: [Double] = []
        for _ in 0..<rounds {
            let t0 = clock.now
            _ = chain.apply(to: [message])
            times.append((clock.now - t0).milliseconds)
        }
        let median = times.sorted()[times.count / 2]
        print(name.padding(toLength: 26, withPad: " ", startingAt: 0) + (size == 16_384 ? "16 KiB    " : "1 MiB     ") + String(format: "%.2f", median))
    }
}
