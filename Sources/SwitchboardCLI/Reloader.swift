import Foundation
import Logging
import Switchboard
import SwitchboardConsole
import UnixSignals

/// Reloads the running system from its file, whatever asked for it: the console's `reload`,
/// SIGHUP, or `--watch` noticing an edit.
struct Reloader: Sendable {
    let file: String
    let map: SystemMap
    /// The loader the system was loaded with: the same registry, profiles and `--set` values.
    let loader: SystemLoader
    let logger: Logger

    /// The loader, reading the environment as it is now (a variable's value may have changed).
    private var freshLoader: SystemLoader {
        var fresh = loader
        fresh.environment = ProcessInfo.processInfo.environment
        return fresh
    }

    /// Validates the file, then plans (dry run) or applies it. Invalid files change nothing;
    /// their problems, with JSON paths, are the answer and go to the log.
    func reload(dryRun: Bool, trigger: String) async -> AdminHost.ReloadAnswer {
        logger.info("reload (\(trigger))\(dryRun ? ", dry run" : ""): reading \(file)")
        let outcome: ReloadOutcome
        do {
            outcome = try await map.reload(file: file, loader: freshLoader, dryRun: dryRun)
        } catch {
            // In the lifecycle log too, so a console's `log` shows why an edit did nothing.
            await map.note("reload (\(trigger)) refused, nothing changed: \(error.description)", level: .error)
            if !dryRun { await map.countReload(.invalid) }
            let issues: [JSONValue] = error.issues.map { ["path": .string($0.path.description), "reason": .string($0.reason.rawValue), "message": .string($0.message)] }
            return .init(ok: false, text: "\(file) is not valid; nothing changed\n\(error.description)", data: ["issues": .array(issues)])
        }
        if outcome.ok {
            logger.info("\(outcome.text)")
        } else {
            logger.error("\(outcome.text)")
        }
        return .init(ok: outcome.ok, text: outcome.text, data: outcome.json)
    }

    /// Reloads on every SIGHUP until cancelled.
    func onHangUp() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            _ = await reload(dryRun: false, trigger: "SIGHUP")
        }
    }

    /// Reloads when the file changes (checked every 200 ms, applied once it has been still
    /// for 300 ms, so an editor's several writes make one reload) until cancelled.
    func watch() async {
        func stamp() -> String? {
            guard let a = try? FileManager.default.attributesOfItem(atPath: file) else { return nil }
            return "\((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)/\(a[.size] ?? 0)"
        }
        var applied = stamp()
        var seen = applied
        var stillSince = ContinuousClock.now
        logger.info("watching \(file) for changes")
        while (try? await Task.sleep(for: .milliseconds(200))) != nil {
            let now = stamp()
            if now != seen {
                seen = now
                stillSince = .now
                continue
            }
            if now != applied, now != nil, ContinuousClock.now - stillSince >= .milliseconds(300) {
                applied = now
                _ = await reload(dryRun: false, trigger: "file changed")
            }
        }
    }
}
