import AsyncHTTPClient
import Foundation
import NIOCore

/// A server under test: how to subscribe, how to publish, which processes to measure.
struct Target: Sendable {
    let name: String
    let host = "127.0.0.1"
    let port: Int
    let subscribePath: String
    let publishURL: String
    let process: Process
    let pidsOf: @Sendable () -> [Int32]

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    func publish(_ client: HTTPClient, run: Int, seq: Int) async {
        var req = HTTPClientRequest(url: publishURL)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "text/plain")
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
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
            close(s)
            if ok { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NSError(domain: "sse-load", code: 1, userInfo: [NSLocalizedDescriptionKey: "nothing listens on \(port)"])
    }

    /// The release `switchboard` binary with a chat-like system: channel → mult → sse + publish.
    static func switchboard(dir: String, port: Int = 18080, metricsPort: Int? = nil) async throws -> Target {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("switchboard").path
        let config = """
            {"name": "bench", "components": {
              "inbox": {"type": "channel", "buffer": 4096},
              "fanout": {"type": "mult", "using": {"source": "inbox"}, "tapDefaults": {"policy": "block", "capacity": 4096}},
              "http": {"type": "http-server", "port": \(port), "maxConnections": 100000},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
              "events": {"type": "sse", "history": 1000, "using": {"server": "http", "source": "fanout"}}\(metricsPort.map { """
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
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["run", file, "--log-level", "warning"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        try await waitForPort(port)
        let pid = p.processIdentifier
        return Target(name: metricsPort == nil ? "switchboard" : "switchboard+metrics", port: port, subscribePath: "/events", publishURL: "http://127.0.0.1:\(port)/messages?from=bench",
                      process: p, pidsOf: { [pid] })
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
              }
            }
            """
        try config.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        p.arguments = ["-c", dir + "/nginx.conf", "-p", dir]
        p.standardError = FileHandle.nullDevice
        try p.run()
        try await waitForPort(port)
        let master = p.processIdentifier
        return Target(name: "nginx+nchan", port: port, subscribePath: "/sub", publishURL: "http://127.0.0.1:\(port)/pub",
                      process: p, pidsOf: { [master] + Target.children(of: master) })
    }
}
