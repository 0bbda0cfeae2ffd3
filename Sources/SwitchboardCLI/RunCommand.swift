import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Switchboard

/// `switchboard run`: start the system and keep it running until SIGINT or SIGTERM.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start the system in dependency order; SIGINT/SIGTERM stop it in reverse order."
    )

    @Argument(help: "The system file.")
    var file = "system.json"

    @Option(help: "Seconds a graceful shutdown may take (overrides shutdownTimeout in the file).")
    var shutdownTimeout: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        let system = try loadOrExit(file)
        let map = SystemMap(system, logger: logger)
        let deadline = shutdownTimeout.map { Duration.milliseconds(Int64($0 * 1000)) } ?? system.spec.shutdownTimeout
        let service = SystemService(map: map, shutdownDeadline: deadline, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        if service.exitCode != 0 { throw ExitCode(service.exitCode) }
    }
}
