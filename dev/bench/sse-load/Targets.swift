import AsyncHTTPClient
import Foundation
import NIOCore

/// A server under test: how to subscribe, how to publish, which processes to measure.
struct Target: Sendable {
    let name: String
    let host = "127.0.0.1"
    /// Where subscribers connect: one port, or one per instance (spread evenly).
    let ports: [Int]
    let subscribePath: String
    /// Where a WebSocket subscriber upgrades (the idle WebSocket scenario), if the target has one.
    var webSocketPath: String?
    /// The first (or only) port.
    var port: Int { ports[0] }
    /// Where messages are published: round-robin by sequence number.
    let publishURLs: [String]
    let processes: [Process]
    let pidsOf: @Sendable () -> [Int32]
    /// Run when the target stops (the cluster's PostgreSQL).
    var cleanup: @Sendable () -> Void = {}
    /// The token subscribers and publishers send, when the target checks them.
    var bearer: String?

    init(name: String, ports: [Int], subscribePath: String, publishURLs: [String], processes: [Process], pidsOf: @escaping @Sendable () -> [Int32]) {
        self.name = name
        self.ports = ports
        self.subscribePath = subscribePath
        self.publishURLs = publishURLs
        self.processes = processes
        self.pidsOf = pidsOf
    }

    init(name: String, port: Int, subscribePath: String, publishURL: String, process: Process, pidsOf: @escaping @Sendable () -> [Int32]) {
        self.init(name: name, ports: [port], subscribePath: subscribePath, publishURLs: [publishURL], processes: [process], pidsOf: pidsOf)
    }

    func stop() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        cleanup()
    }

    func publish(_ client: HTTPClient, run: Int, seq: Int) async {
        var req = HTTPClientRequest(url: publishURLs[seq % publishURLs.count])
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "text/plain")
        if let bearer { req.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        req.body = .bytes(ByteBuffer(string: "run=\(run) seq=\(seq) t=\(monotonicNanos()) "))
        for attempt in 0..<50 {
            if let res = try? await client.execute(req, timeout: .seconds(30)) {
                _ = try? await res.body.collect(upTo: 1 << 20)
                if (200..<300).contains(Int(res.status.code)) { return }
            }
            try? await Task.sleep(for: .milliseconds(10 * (attempt + 1)))
        }
        print("publish of \(seq) failed")
    }

    /// User + system CPU seconds of the server's processes.
    func cpuSeconds() -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return pidsOf().reduce(0) { total, pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return total }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return total }
            return total + (u + s) / ticks
        }
    }

    /// Resident memory of the server's processes, in KB.
    func rssKB() -> Int {
        pidsOf().reduce(0) { total, pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return total }
            return total + (Int(line.split(separator: " ")[1]) ?? 0)
        }
    }

    static func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    static func waitForPort(_ port: Int) async throws {
        for _ in 0..<500 {
            if listens(port) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NSError(domain: "sse-load", code: 1, userInfo: [NSLocalizedDescriptionKey: "nothing listens on \(port)"])
    }

    /// Throws when `port` is taken: a server left over from an interrupted run would answer
    /// instead, and its CPU would not be counted (another binary's figures, 0 µs per delivery).
    static func ensureFree(_ port: Int) throws {
        guard !listens(port) else {
            throw NSError(domain: "sse-load", code: 3, userInfo: [NSLocalizedDescriptionKey: "port \(port) is taken (a server left from an earlier run?)"])
        }
    }

    /// Whether something accepts connections on `port` (loopback).
    static func listens(_ port: Int) -> Bool {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        close(s)
        return ok
    }

    /// Writes `config` to `file` and runs the binary on it (warnings only) until `port` listens.
    static func run(_ binary: String, _ config: String, file: String, port: Int, environment: [String: String] = [:]) async throws -> Process {
        try ensureFree(port)
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        return try await launch(binary, ["run", file, "--log-level", "warning"], port: port, environment: environment)
    }

    /// Starts `binary` with `arguments` (pinned with `--pin`, its output dropped) and waits
    /// until `port` listens.
    static func launch(_ binary: String, _ arguments: [String], port: Int, environment: [String: String] = [:]) async throws -> Process {
        let p = Process()
        (p.executableURL, p.arguments) = Pinning.command(binary, arguments)
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        try await waitForPort(port)
        return p
    }

    /// The path of `name`, a binary built beside this tool.
    static func beside(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// `instances` release `switchboard` processes sharing one chat through a bus on a private
    /// PostgreSQL (dev/postgres.sh, fsync on): channel → bus → mult → sse, publish with
    /// `ack: stored` (202 once the row is committed).
    /// With `baseline`, that binary (an earlier build) instead of the one beside this tool, and
    /// "(baseline)" in the name. Each cluster has its own PostgreSQL.
    static func cluster(dir: String, instances: Int = 3, firstPort: Int = 18180, baseline: String? = nil) async throws -> Target {
        let binary = baseline ?? beside("switchboard")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("postgres.sh").path
        let pgDir = dir + "/pg-\(firstPort)"
        let start = Process()
        start.executableURL = URL(fileURLWithPath: script)
        start.arguments = ["start", pgDir]
        let out = Pipe()
        start.standardOutput = out
        try start.run()
        // dev/postgres.sh prints the URL last; the server it starts holds none of our pipes.
        let url = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        start.waitUntilExit()
        guard start.terminationStatus == 0 else { throw NSError(domain: "sse-load", code: 2, userInfo: [NSLocalizedDescriptionKey: "PostgreSQL did not start"]) }
        var processes: [Process] = []
        let table = "bus_bench_\(getpid())"
        for i in 0..<instances {
            let port = firstPort + i
            let config = """
                {"name": "bench", "instance": "node-\(i + 1)", "admin": {"socket": "node-\(port).sock"}, "components": {
                  "db": {"type": "postgres", "url": "\(url)", "poolSize": 8, "tls": "off"},
                  "inbox": {"type": "channel", "buffer": 4096},
                  "bus": {"type": "bus", "table": "\(table)", "capacity": 4096, "using": {"source": "inbox", "database": "db"}},
                  "fanout": {"type": "mult", "using": {"source": "bus"}, "tapDefaults": {"policy": "block", "capacity": 4096}},
                  "http": {"type": "http-server", "port": \(port), "maxConnections": 100000},
                  "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox", "store": "bus"}},
                  "events": {"type": "sse", "history": 1000, "using": {"server": "http", "source": "fanout", "history": "bus"}}
                }}
                """
            processes.append(try await run(binary, config, file: dir + "/cluster-\(port).json", port: port))
        }
        let pids = processes.map(\.processIdentifier)
        let ports = (0..<instances).map { firstPort + $0 }
        var target = Target(name: "cluster of \(instances)" + (baseline == nil ? "" : " (baseline)"), ports: ports, subscribePath: "/events",
                            publishURLs: ports.map { "http://127.0.0.1:\($0)/messages?from=bench" }, processes: processes, pidsOf: { pids })
        target.cleanup = {
            let stop = Process()
            stop.executableURL = URL(fileURLWithPath: script)
            stop.arguments = ["stop", pgDir]
            try? stop.run()
            stop.waitUntilExit()
        }
        return target
    }

    /// The release `switchboard` binary with a chat-like system: channel → mult → sse + publish.
    /// With `auth`, both endpoints check an HS256 token (minted by `switchboard token`).
    /// With `swiftExecutor`, Swift concurrency keeps its own thread pool (`SWITCHBOARD_EXECUTOR=swift`)
    /// instead of running on NIO's event loops. With `baseline`, that binary (an earlier build,
    /// to compare before and after in one run) instead of the one beside this tool.
    static func switchboard(dir: String, port: Int = 18080, metricsPort: Int? = nil, auth: Bool = false, swiftExecutor: Bool = false,
                            baseline: String? = nil) async throws -> Target {
        let binary = baseline ?? beside("switchboard")
        let config = """
            {"name": "bench", "components": {
              "inbox": {"type": "channel", "buffer": 4096},
              "fanout": {"type": "mult", "using": {"source": "inbox"}, "tapDefaults": {"policy": "block", "capacity": 4096}},
              "http": {"type": "http-server", "port": \(port), "maxConnections": 100000},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"\(auth ? #", "auth": "auth""# : "")}},
              "ws": {"type": "websocket", "path": "/ws", "using": {"server": "http", "source": "fanout", "channel": "inbox"\(auth ? #", "auth": "auth""# : "")}},
              "events": {"type": "sse", "history": 1000, "using": {"server": "http", "source": "fanout"\(auth ? #", "auth": "auth""# : "")}}\(auth ? #"""
            ,
              "auth": {"type": "auth", "keys": [{"alg": "HS256", "secret": "sse-load-secret-of-at-least-32-bytes"}]}
            """# : "")\(metricsPort.map { """
            ,
              "ops": {"type": "http-server", "port": \($0)},
              "metrics": {"type": "metrics", "using": {"server": "ops"}}
            """ } ?? "")
            }}
            """
        // A directory each: the console socket goes beside the system file.
        let own = dir + "/switchboard-\(port)"
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
        let file = own + "/bench.json"
        let p = try await run(binary, config, file: file, port: port, environment: swiftExecutor ? ["SWITCHBOARD_EXECUTOR": "swift"] : [:])
        let pid = p.processIdentifier
        let name = auth ? "switchboard+auth" : metricsPort != nil ? "switchboard+metrics" : swiftExecutor ? "switchboard (Swift's pool)"
            : baseline != nil ? "switchboard (baseline)" : "switchboard"
        var target = Target(name: name, port: port, subscribePath: "/events",
                            publishURL: "http://127.0.0.1:\(port)/messages\(auth ? "" : "?from=bench")", process: p, pidsOf: { [pid] })
        target.webSocketPath = "/ws"
        if auth {
            let mint = Process()
            mint.executableURL = URL(fileURLWithPath: binary)
            mint.arguments = ["token", "--sub", "bench", "--rooms", "*", "--ttl", "1d", file]
            let out = Pipe()
            mint.standardOutput = out
            try mint.run()
            target.bearer = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            mint.waitUntilExit()
        }
        return target
    }

    /// `nio-floor` (beside this tool): the least SwiftNIO does per message, over its HTTP/1
    /// pipeline (`http1`) or bytes split by hand (`raw`, which also takes a WebSocket
    /// subscriber) — a floor for Switchboard's figures.
    static func nioFloor(_ mode: String, port: Int) async throws -> Target {
        try ensureFree(port)
        let p = try await launch(beside("nio-floor"), [mode, String(port)], port: port)
        let pid = p.processIdentifier
        var target = Target(name: "NIO floor (\(mode))", port: port, subscribePath: "/events",
                            publishURL: "http://127.0.0.1:\(port)/messages", process: p, pidsOf: { [pid] })
        if mode == "raw" { target.webSocketPath = "/ws" }
        return target
    }

    /// nginx (Debian's nginx-light) with libnginx-mod-nchan, one worker.
    static func nchan(dir: String, port: Int = 18090) async throws -> Target {
        let config = """
            load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
            daemon off;
            master_process on;
            worker_processes 1;
            worker_rlimit_nofile 200000;
            pid \(dir)/nginx.pid;
            error_log \(dir)/nginx-error.log warn;
            events { worker_connections 100000; }
            http {
              access_log off;
              client_body_temp_path \(dir);
              server {
                listen 127.0.0.1:\(port);
                location = /pub { nchan_publisher; nchan_channel_id chat; nchan_message_buffer_length 1000; nchan_message_timeout 1h; }
                location = /sub { nchan_subscriber eventsource; nchan_channel_id chat; }
                location = /ws { nchan_subscriber websocket; nchan_channel_id chat; }
              }
            }
            """
        try ensureFree(port)
        try config.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
        let p = Process()
        (p.executableURL, p.arguments) = Pinning.command("/usr/sbin/nginx", ["-c", dir + "/nginx.conf", "-p", dir])
        p.standardError = FileHandle.nullDevice
        try p.run()
        try await waitForPort(port)
        let master = p.processIdentifier
        var target = Target(name: "nginx+nchan", port: port, subscribePath: "/sub", publishURL: "http://127.0.0.1:\(port)/pub",
                            process: p, pidsOf: { [master] + Target.children(of: master) })
        target.webSocketPath = "/ws"
        return target
    }
}

/// `--pin`: the servers on core 0 (through `taskset`, which execs the server, so the pid is the
/// server's and its worker processes and threads inherit the mask), this load generator on the
/// other cores. Without it, everything shares every core, as before.
enum Pinning {
    nonisolated(unsafe) static var enabled = false
    static let serverCore = 0

    static func command(_ binary: String, _ arguments: [String]) -> (URL, [String]) {
        guard enabled else { return (URL(fileURLWithPath: binary), arguments) }
        return (URL(fileURLWithPath: "/usr/bin/taskset"), ["-c", "\(serverCore)", binary] + arguments)
    }

    /// Moves every thread of this process (and so every thread it starts later) off the
    /// server's core, with `taskset -a` (glibc's `sched_setaffinity` is not in Swift's Glibc
    /// module). Called first thing in `main`, before the event loops and the client start.
    static func pinSelf() {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        guard cores > 1 else {
            print("--pin needs two cores; this machine has \(cores)")
            exit(1)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        p.arguments = ["-a", "-p", "-c", "\(serverCore + 1)-\(cores - 1)", "\(getpid())"]
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch {
            print("--pin: taskset did not run: \(error)")
            exit(1)
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            print("--pin: taskset failed (\(p.terminationStatus))")
            exit(1)
        }
    }
}
