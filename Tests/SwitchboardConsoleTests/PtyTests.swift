import Foundation
import SwitchboardTesting
import Testing

/// The console in a real pty (pexpect) against the real binary running the root system.
@Suite struct PtyTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = here.deletingLastPathComponent().deletingLastPathComponent()

    @Test func completionHistoryPutTailAndDetachInAPty() async throws {
        let dir = try temporaryDirectory()
        let system = try rootSystemOnPortZero(Self.root)
        try system.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/dev", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root.appendingPathComponent("dev/console.rc").path, toPath: dir + "/dev/console.rc")
        let server = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { server.terminate() }
        let url = try #require(await server.listeningURL())
        #expect(await server.waitFor("system \"chat\" running"))
        let pty = try LiveProcess("/usr/bin/env", [
            "python3", Self.here.appendingPathComponent("Pty/console_pty.py").path,
            switchboardBinary(), dir, String(url), dir + "/.switchboard/admin.sock",
        ], directory: dir)
        let status = await pty.waitForExit(limit: .seconds(120))
        pty.terminate()
        #expect(status == 0, "\(pty.text)")
        #expect(pty.text.hasSuffix("ok\n"))
        // The server is still up after the console detached, and stops cleanly.
        server.signal(SIGTERM)
        #expect(await server.waitForExit() == 0)
    }

    /// `switchboard chat` in a real pty against the real binary.
    @Test func theTerminalChatSendsAndShowsMessages() async throws {
        let dir = try temporaryDirectory()
        try rootSystemOnPortZero(Self.root).write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let server = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { server.terminate() }
        let url = try #require(await server.listeningURL())
        #expect(await server.waitFor("system \"chat\" running"))
        let pty = try LiveProcess("/usr/bin/env", ["python3", Self.here.appendingPathComponent("Pty/chat_pty.py").path, switchboardBinary(), String(url)],
                                  directory: dir)
        let status = await pty.waitForExit(limit: .seconds(120))
        pty.terminate()
        #expect(status == 0, "\(pty.text)")
        #expect(pty.text.hasSuffix("ok\n"))
    }
}
