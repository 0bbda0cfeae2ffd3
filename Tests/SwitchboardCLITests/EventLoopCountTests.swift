import Foundation
import SwitchboardTesting
import Testing

@testable import SwitchboardCLI

/// `switchboard run` starts one event loop per core it may run on.
@Suite struct EventLoopCountTests {
    @Test func theAllowedListIsCounted() {
        #expect(EventLoopCount.allowedCores(status: "Name:\tx\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n") == 1)
        #expect(EventLoopCount.allowedCores(status: "Cpus_allowed_list:\t0-3,8,10-11\n") == 7)
        #expect(EventLoopCount.allowedCores(status: "Cpus_allowed_list:\t1\n") == 1)
        // What is not understood leaves NIO's own count.
        #expect(EventLoopCount.allowedCores(status: "Name:\tx\n") == nil)
        #expect(EventLoopCount.allowedCores(status: "Cpus_allowed_list:\t3-1\n") == nil)
        #expect(EventLoopCount.allowedCores(status: "Cpus_allowed_list:\t0-99999999999999999999\n") == nil)
        #expect(EventLoopCount.allowedCores(status: "Cpus_allowed_list:\t-1\n") == nil)
        #expect(EventLoopCount.allowedCores(status: "Cpus_allowed_list:\t\n") == nil)
    }

    /// Under `taskset -c 0` the server runs one loop, whatever the machine has.
    @Test func aServerPinnedToOneCoreRunsOneLoop() async throws {
        let dir = try temporaryDirectory()
        try #"{"name": "pinned", "components": {"http": {"type": "http-server", "port": 0}}}"#
            .write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let p = try LiveProcess("/usr/bin/taskset", ["-c", "0", switchboardBinary(), "run"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor(#"system "pinned" running"#))
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.pid)/task")
        let loops = tasks.compactMap { try? String(contentsOfFile: "/proc/\(p.pid)/task/\($0)/comm", encoding: .utf8) }
            .filter { $0.hasPrefix("NIO-SGLTN-") }
        #expect(loops.count == 1, "event loop threads: \(loops)")
    }
}
