// How long a no-op reload of the default system takes: read system.json, validate it
// (which builds every component), plan against the running map, apply (nothing to do).
//
//   swift run -c release reload-bench [system.json] [--iterations N]
import Foundation
import Logging
import Switchboard
import SwitchboardCLI

await ReloadBench(arguments: CommandLine.arguments).run()

struct ReloadBench {
    let args: [String]
    init(arguments: [String]) { args = arguments }

    func run() async {
        let source = args.dropFirst().first { !$0.hasPrefix("--") && Int($0) == nil } ?? "system.json"
        let iterations = args.firstIndex(of: "--iterations").flatMap { Int(args[$0 + 1]) } ?? 500
        // The same system on a free port, so that it can run next to a live one.
        let text = (try? String(contentsOfFile: source, encoding: .utf8)) ?? ""
        let file = NSTemporaryDirectory() + "reload-bench-\(getpid()).json"
        try? text.replacingOccurrences(of: "\"port\": 8080", with: "\"port\": 0").write(toFile: file, atomically: true, encoding: .utf8)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let loader = SystemLoader(registry: .standard, logger: logger)
        do {
            let map = SystemMap(try loader.load(file: file), logger: logger)
            try await map.start()
            let clock = ContinuousClock()
            var samples: [Double] = []
            for _ in 0..<iterations {
                let t0 = clock.now
                let outcome = try await map.reload(file: file, loader: loader)
                samples.append((clock.now - t0).milliseconds)
                precondition(outcome.ok && outcome.plan.isEmpty)
            }
            let count = await map.spec.components.count
            await map.stop()
            samples.sort()
            let p = { (q: Double) in samples[min(samples.count - 1, Int(Double(samples.count) * q))] }
            print(String(format: "no-op reload of %@ (%d components), %d runs: median %.3f ms, p99 %.3f ms, max %.3f ms",
                         source, count, iterations, p(0.5), p(0.99), samples.last ?? 0))
        } catch {
            print("\(error)")
            exit(1)
        }
    }
}
