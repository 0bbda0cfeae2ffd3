import Foundation
import Logging
import ServiceLifecycle
import Switchboard
import Synchronization

/// Runs a system map as one swift-service-lifecycle service: start everything, wait for a
/// graceful shutdown, stop everything in reverse order within a deadline.
///
/// The service group only sees the map as a whole: it has no way to stop one service of a
/// running group, so per-component lifecycle stays with the map.
final class SystemService: Service {
    let map: SystemMap
    let shutdownDeadline: Duration
    let logger: Logger
    private let exit = Mutex<Int32>(0)

    init(map: SystemMap, shutdownDeadline: Duration, logger: Logger) {
        self.map = map
        self.shutdownDeadline = shutdownDeadline
        self.logger = logger
    }

    /// 0 after a clean run, 1 after a failed start or a missed shutdown deadline.
    var exitCode: Int32 { exit.withLock { $0 } }

    func run() async throws {
        do {
            try await map.start()
        } catch {
            logger.critical("system failed to start: \(error.description)")
            exit.withLock { $0 = 1 }
            return
        }
        let spec = await map.spec
        logger.info("system \"\(spec.name)\" running: \(spec.components.count) components")
        // Wait for SIGINT/SIGTERM; cancellation (a second signal) lands here too.
        try? await gracefulShutdown()
        logger.info("shutting down (deadline \(shutdownDeadline.short))")
        let finished = await withDeadline(shutdownDeadline) { await self.map.stop() }
        guard let report = finished else {
            let states = await map.status()
            logger.critical("shutdown deadline of \(shutdownDeadline.short) passed; still running: \(stillRunning(states))")
            Foundation.exit(1)
        }
        if report.errors.isEmpty {
            logger.info("system stopped cleanly: \(report.stopped.joined(separator: ", "))")
        } else {
            logger.error("system stopped with errors: \(report.description)")
        }
    }

    private func stillRunning(_ status: JSONValue) -> String {
        let rows = status.arrayValue ?? []
        return rows.filter { $0["state"]?.stringValue != "stopped" }.compactMap { $0["name"]?.stringValue }.joined(separator: ", ")
    }
}
