import Foundation
import Logging
import ServiceLifecycle
import Switchboard
import SwitchboardConsole
import Synchronization

/// Runs a system map as one swift-service-lifecycle service: start the admin socket and
/// every component, wait for a graceful shutdown (a signal or the console's `shutdown`),
/// stop everything in reverse order within a deadline.
///
/// The service group only sees the map as a whole: it has no way to stop one service of a
/// running group, so per-component lifecycle stays with the map.
final class SystemService: Service {
    let map: SystemMap
    let shutdownDeadline: Duration
    let logger: Logger
    /// The console socket (outside the map: it survives `stop`).
    let adminServer: AdminServer?
    /// Resolved when the console asks the process to end.
    let shutdownRequest: Latch<Void>
    /// Resolved once the system runs (true) or failed to start (false).
    let started = Latch<Bool>()
    private let exit = Mutex<Int32>(0)

    init(map: SystemMap, shutdownDeadline: Duration, logger: Logger, admin: AdminServer?, shutdownRequest: Latch<Void>) {
        self.map = map
        self.shutdownDeadline = shutdownDeadline
        self.logger = logger
        self.adminServer = admin
        self.shutdownRequest = shutdownRequest
    }

    /// 0 after a clean run, 1 after a failed start or a missed shutdown deadline.
    var exitCode: Int32 { exit.withLock { $0 } }

    /// Logs why the start failed, the one line to act on, and ends the run with 1.
    private func failedToStart(_ why: String) {
        logger.critical("\(why)")
        exit.withLock { $0 = 1 }
        started.resolve(.success(false))
    }

    func run() async throws {
        if let adminServer {
            do {
                try await adminServer.start()
            } catch {
                return failedToStart("\(error)")
            }
        }
        do {
            try await map.start()
        } catch {
            // The map's note above lists what was rolled back; this is the one line to act on.
            failedToStart("system failed to start: \"\(error.component)\": \(error.error); nothing is left running")
            await adminServer?.stop()
            return
        }
        let spec = await map.spec
        logger.info("system \"\(spec.name)\" running: \(spec.components.count) components")
        started.resolve(.success(true))
        // Wait for SIGINT/SIGTERM (or cancellation), or for the console's shutdown.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await gracefulShutdown() }
            group.addTask { _ = try? await self.shutdownRequest.wait() }
            await group.next()
            shutdownRequest.resolve(.success(()))
            group.cancelAll()
        }
        logger.info("shutting down (deadline \(shutdownDeadline.short))")
        // Half the deadline for draining what was accepted, the rest for the stop itself.
        let finished = await withDeadline(shutdownDeadline) { await self.map.shutdown(drainFor: self.shutdownDeadline / 2) }
        await adminServer?.stop()
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
