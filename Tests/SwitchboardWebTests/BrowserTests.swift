import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// A real browser: headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
/// selenium) on the page served by the real binary running the root `system.json`'s chat
/// system on port 0.
@Suite struct BrowserTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = here.deletingLastPathComponent().deletingLastPathComponent()

    @Test func twoWindowsChatThroughThePage() async throws {
        let dir = try temporaryDirectory()
        // The root system, on an ephemeral port.
        let system = try rootSystemOnPortZero(Self.root)
        try system.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let server = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { server.terminate() }
        let url = try #require(await server.listeningURL())
        #expect(await server.waitFor("system \"chat\" running"))
        let browser = try LiveProcess("/usr/bin/env", ["python3", Self.here.appendingPathComponent("Browser/chat_page.py").path, String(url)])
        let status = await browser.waitForExit(limit: .seconds(180))
        browser.terminate()
        #expect(status == 0, "\(browser.text)")
        #expect(browser.text.contains("ok"))
    }
}
