import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Switchboard
import SwitchboardConsole

/// `switchboard run`: start the system and keep it running until SIGINT or SIGTERM.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start the system in dependency order; SIGINT/SIGTERM stop it in reverse order."
    )

    @OptionGroup var options: SystemOptions

    @Option(help: "Seconds a graceful shutdown may take (overrides shutdownTimeout in the file).")
    var shutdownTimeout: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info; with --console the terminal shows warnings while the console is attached and the whole log goes to run.log beside the socket).")
    var logLevel: String?

    @Option(help: "Log format: text, or json (one object per line: time, level, message, component, logger, source, metadata); default: the file's log.format, or text.")
    var logFormat: String?

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    @Flag(help: "Open the console on this terminal (Ctrl-C then cancels console commands; shutdown --confirm or SIGTERM stop the server).")
    var console = false

    @Flag(name: .customLong("no-rc"), help: "With --console: do not load dev/console.rc.")
    var noRC = false

    @Flag(help: "Reload the system file when it changes (debounced). SIGHUP and the console's reload work either way.")
    var watch = false

    func run() async throws {
        // Swift concurrency runs on NIO's event loops (the threads the connections live on), so
        // a request's task, the fan-out and the connections' writes share threads instead of
        // handing each message from Swift's pool to a loop and back (README, performance).
        // Nothing in a running system blocks a task (the attached console has a thread of its
        // own). `SWITCHBOARD_EXECUTOR=swift` keeps Swift's own pool, to compare.
        EventLoopCount.apply()
        if ProcessInfo.processInfo.environment["SWITCHBOARD_EXECUTOR"] != "swift" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            TaskPlacement.executor = LoopTaskExecutor(group: MultiThreadedEventLoopGroup.singleton)
        }
        // A log reader that goes away (`| head`, a restarted shipper) must not end the server.
        LogOutput.ignoreBrokenPipes()
        // One loader for the start and every reload (the environment file read once). The
        // file's `log` section (after its profiles) sets the log unless the flags say otherwise.
        var loader = try await options.loader()
        let logSection = loader.document(file: options.file)?["log"]
        let levelName = logLevel ?? logSection?["level"]?.stringValue ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("--log-level: \"\(levelName)\" is not one of \(Self.logLevels.joined(separator: ", "))")
        }
        let formatName = logFormat ?? logSection?["format"]?.stringValue ?? "text"
        guard let format = LogFormat(rawValue: formatName) else {
            throw ValidationError("--log-format: \"\(formatName)\" is not one of text, json")
        }
        // With --console the log moves to a file once the console is on the terminal (RunLog).
        // Before loading: the components' loggers are made when the file is.
        let runLog = RunLog(level: level, format: format)
        if console {
            LoggingSystem.bootstrap { runLog.handler(label: $0) }
        } else {
            LoggingSystem.bootstrap { LineLogHandler(label: $0, format: format, logLevel: level) }
        }
        // The components' loggers derive from this one: made now that the log is set up.
        let logger = Logger(label: "switchboard")
        loader.logger = logger
        let system = try options.loadOrExit(with: loader)
        LogFormat.instance.withLock { $0 = system.spec.instance }
        let adminConfig = AdminConfig.of(system.spec)
        let map = SystemMap(system, logger: logger)
        var deadline = system.spec.shutdownTimeout
        if let shutdownTimeout {
            switch Duration.checkedSeconds(shutdownTimeout) {
            case .success(let d): deadline = d
            case .failure(let problem): throw ValidationError("--shutdown-timeout: \(problem)")
            }
        }
        let shutdownRequest = Latch<Void>()
        let reloader = Reloader(file: options.file, map: map, loader: loader, logger: logger)
        var host = AdminHost(
            map: map, logger: logger,
            reload: { dryRun in await reloader.reload(dryRun: dryRun, trigger: "console") },
            shutdown: { shutdownRequest.resolve(.success(())) })
        host.registry = SwitchboardCLI.registry
        map.serveRemoteConsole(host.remoteRunner)
        let admin = adminConfig.enabled ? AdminServer(config: adminConfig, host: host) : nil
        let service = SystemService(map: map, shutdownDeadline: deadline, logger: logger, admin: admin, shutdownRequest: shutdownRequest)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: console ? [.sigterm] : [.sigterm, .sigint],
            logger: logger))
        if console, let admin {
            attachConsole(admin: admin, service: service, shutdownRequest: shutdownRequest, log: runLog)
            // `shutdown --confirm` at the console: the stop order shows on the terminal.
            Task { _ = try? await shutdownRequest.wait(); runLog.restoreTerminal() }
        }
        let hangUps = Task { await reloader.onHangUp() }
        let watcher = watch ? Task { await reloader.watch() } : nil
        let scavenger = Task { await MemoryScavenger.run() }
        defer {
            hangUps.cancel()
            watcher?.cancel()
            scavenger.cancel()
        }
        try await group.run()
        if service.exitCode != 0 { throw ExitCode(service.exitCode) }
    }

    /// The console on this terminal, on a thread of its own (libedit blocks).
    private func attachConsole(admin: AdminServer, service: SystemService, shutdownRequest: Latch<Void>, log: RunLog) {
        let rc = noRC ? nil : ConsoleCommand.defaultRC()
        let socket = admin.socketPath
        Task.detached {
            guard (try? await service.started.wait()) == true else { return }
            let thread = Thread {
                // The socket's directory exists (and was checked) now that the server runs.
                let path = URL(fileURLWithPath: socket).deletingLastPathComponent().appendingPathComponent("run.log").path
                if log.divert(to: path) {
                    print("server log: \(path) (here: warnings and worse while the console is attached; `log` shows the lifecycle)")
                }
                let options = ConsoleApp.Options(socket: socket, rcFile: rc, forceInteractive: true)
                _ = ConsoleApp(options).run()
                // The console is gone: the terminal shows the whole log again (the stop order, …).
                log.restoreTerminal()
                print("the server keeps running; Ctrl-C (or SIGTERM) stops it")
                // Ctrl-C belongs to the console while it is attached; afterwards it stops the server.
                while !shutdownRequest.isResolved {
                    if ConsoleApp.takeInterrupt() { shutdownRequest.resolve(.success(())) }
                    usleep(100_000)
                }
            }
            thread.start()
        }
    }
}
