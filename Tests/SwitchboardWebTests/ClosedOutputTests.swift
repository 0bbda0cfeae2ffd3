import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardTesting
import Testing

/// The log's reader going away (`| head -1`, a log shipper that restarts) never ends the
/// server: lines that cannot be written are dropped and counted.
@Suite struct ClosedOutputTests {
    @Test func theBinaryKeepsServingAndExitsCleanlyAfterItsStandardOutputCloses() async throws {
        let dir = try temporaryDirectory()
        try #"""
            {"name": "closed", "shutdownTimeout": "5s", "components": {
              "inbox": {"type": "channel", "buffer": {"size": 256, "policy": "dropping"}},
              "http": {"type": "http-server", "port": 0, "accessLog": true},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
              "metrics": {"type": "metrics", "using": {"server": "http"}}
            }}
            """#.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let process = Process()
        // The test runner ignores SIGPIPE and a child inherits that: start the server with the
        // default action, as a shell would, so that a write to the closed pipe would end it.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import os, signal, sys; signal.signal(signal.SIGPIPE, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
                             switchboardBinary(), "run"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let exited = Latch<Int32>()
        process.terminationHandler = { _ = exited.resolve(.success($0.terminationStatus)) }
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        // Read until the server says where it listens, then close the pipe's only reader.
        let reader = out.fileHandleForReading
        let url = await Task.detached { () -> String? in
            var text = ""
            let needle = "listening on http://"
            while !text.contains(needle) {
                let data = reader.availableData
                if data.isEmpty { return nil }
                text += String(decoding: data, as: UTF8.self)
            }
            let rest = text[text.range(of: needle)!.upperBound...].prefix { !$0.isWhitespace }
            return "http://" + rest
        }.value
        let base = try #require(url)
        try reader.close()

        for i in 0..<100 {
            var req = HTTPClientRequest(url: base + "/messages")
            req.method = .POST
            req.body = .bytes(ByteBuffer(string: "message \(i)"))
            let res = try await HTTPClient.shared.execute(req, timeout: .seconds(10))
            #expect(res.status.code == 202, "publish \(i)")
        }
        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        let line = text.split(separator: "\n").first { $0.hasPrefix("switchboard_log_lines_dropped_total ") }
        let dropped: Double = line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
        // Every publish wrote an access-log line into the closed pipe.
        #expect(dropped >= 100, "\(line ?? "no series")")

        kill(process.processIdentifier, SIGTERM)
        let status: Int32?? = await withDeadline(.seconds(30)) { try? await exited.wait() }
        #expect(status == .some(.some(0)), "the exit status after SIGTERM")
    }
}
