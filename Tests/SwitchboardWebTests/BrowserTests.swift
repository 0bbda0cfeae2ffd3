import Foundation
import JWTKit
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

    @Test func privateMessagesAndPresenceOnTheSecurePage() async throws {
        let dir = try temporaryDirectory()
        let secret = "a-browser-test-secret-of-32-bytes-or-more"
        let system = try String(contentsOf: Self.root.appendingPathComponent("dev/systems/secure.json"), encoding: .utf8)
            .replacingOccurrences(of: "../../data/secure.sqlite", with: "secure.sqlite")
        try system.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["SWITCHBOARD_JWT_SECRET"] = secret
        env["PORT"] = "0"
        let server = try LiveProcess(switchboardBinary(), ["run"], directory: dir, environment: env)
        defer { server.terminate() }
        let url = try #require(await server.listeningURL())
        #expect(await server.waitFor("system \"chat\" running"))
        var tokens: [String] = []
        for who in ["alice", "bob", "carol"] {
            tokens.append(try await AuthTests.hs256(AuthTests.claims(sub: who, iss: nil, aud: nil, rooms: ["*"]), secret: secret))
        }
        let browser = try LiveProcess("/usr/bin/env", ["python3", Self.here.appendingPathComponent("Browser/secure_page.py").path, String(url)] + tokens)
        let status = await browser.waitForExit(limit: .seconds(180))
        browser.terminate()
        #expect(status == 0, "\(browser.text)")
        #expect(browser.text.contains("ok"))
    }
}
