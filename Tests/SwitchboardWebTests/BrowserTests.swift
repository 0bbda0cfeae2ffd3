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

    /// Runs the browser script `Browser/<script>` with `arguments`; it must end with "ok".
    func browse(_ script: String, _ arguments: [String]) async throws {
        let browser = try LiveProcess("/usr/bin/env", ["python3", Self.here.appendingPathComponent("Browser/" + script).path] + arguments)
        let status = await browser.waitForExit(limit: .seconds(180))
        browser.terminate()
        #expect(status == 0, "\(browser.text)")
        #expect(browser.text.contains("ok"))
    }

    @Test func twoWindowsChatThroughThePage() async throws {
        let dir = try temporaryDirectory()
        // The root system, on an ephemeral port.
        let system = try rootSystemOnPortZero(Self.root)
        try system.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        try await chatsInTwoWindows(["run"], in: dir, server: "http")
    }

    /// `dev/systems/chat-module.json`: the same chat through the `chat` module, the same page
    /// and the same two windows.
    @Test func theChatModuleServesTheSamePage() async throws {
        let dir = try chatModuleSystem()
        try await chatsInTwoWindows(["run", "--set", "port=0", "--set", "ops=0"], in: dir, server: "chat.http")
    }

    /// Runs the binary with `arguments` in `dir`, then the two-window chat script on the page
    /// of the server component `server`.
    func chatsInTwoWindows(_ arguments: [String], in dir: String, server name: String) async throws {
        let server = try LiveProcess(switchboardBinary(), arguments, directory: dir)
        defer { server.terminate() }
        let url = try #require(await server.listeningURL(of: name))
        #expect(await server.waitFor("system \"chat\" running"))
        try await browse("chat_page.py", [String(url)])
    }

    /// The page across a restart of the real binary on the same port: switchboard.js comes
    /// back by itself and resumes, so nothing said meanwhile is lost or shown twice.
    @Test func thePageResumesAcrossAServerRestart() async throws {
        let dir = try chatModuleSystem()
        // The script starts the server on a port of its choosing and restarts it on that one.
        try await browse("restart_page.py", [switchboardBinary(), dir])
    }

    /// A token refreshed by switchboard.js before it expires keeps the page's WebSocket open.
    @Test func aRefreshedTokenKeepsThePagesWebSocketOpen() async throws {
        let dir = try temporaryDirectory()
        try #"""
            {"name": "chat", "components": {
              "inbox": {"type": "channel", "buffer": 64},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "auth": {"type": "auth", "leeway": "0s", "keys": [{"alg": "HS256", "secret": "\#(AuthTests.secret)"}]},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox", "auth": "auth"}},
              "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox", "auth": "auth"}},
              "page": {"type": "page", "websocket": "/ws", "using": {"server": "http", "auth": "auth"}}
            }}
            """#.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let server = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { server.terminate() }
        let url = try #require(await server.listeningURL())
        #expect(await server.waitFor("system \"chat\" running"))
        // Long enough for Chromium to start and the page to connect on a loaded machine before
        // the refresh is due (at 80 % of what is left, at least 5 s ahead).
        let seconds: TimeInterval = 12
        let expiry = Int((Date().timeIntervalSince1970 + seconds) * 1000)
        let short = try await AuthTests.hs256(AuthTests.claims(sub: "alice", exp: seconds, iss: nil, aud: nil, rooms: ["*"]))
        let fresh = try await AuthTests.hs256(AuthTests.claims(sub: "alice", exp: 3600, iss: nil, aud: nil, rooms: ["*"]))
        try await browse("token_page.py", [String(url), short, fresh, String(expiry)])
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
        try await browse("secure_page.py", [String(url)] + tokens)
    }
}

/// A TCP port on 127.0.0.1 that is bound and not listening: a connection to it is refused,
/// and no other server of the test run can take it (a port that was merely closed can be
/// handed to the next test that binds port 0, whose server then answers in its place) until
/// `release()`.
final class HeldPort: @unchecked Sendable {
    let port: Int
    private var fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        do { port = try Self.bindAnyPort(fd) } catch { close(fd); throw error }
    }

    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }

    private static func bindAnyPort(_ fd: Int32) throws -> Int {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A temporary directory holding `dev/systems/chat-module.json` with its database inside it.
func chatModuleSystem() throws -> String {
    let dir = try temporaryDirectory()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    try String(contentsOf: root.appendingPathComponent("dev/systems/chat-module.json"), encoding: .utf8)
        .replacingOccurrences(of: "../../data/chat-module.sqlite", with: "chat.sqlite")
        .write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
    return dir
}
