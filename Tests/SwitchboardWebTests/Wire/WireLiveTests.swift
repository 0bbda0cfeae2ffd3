import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardTesting
import Testing

/// What the probes of the release binary found, on the real binary over raw sockets: each case
/// of `HTTPConnectionHandlerTests` once more end to end.
@Suite struct WireLiveTests {
    static let system = #"""
        {"name": "wire", "components": {
          "inbox": {"type": "channel", "buffer": 4096},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "side": {"type": "channel", "buffer": {"size": 1, "policy": "fixed"}},
          "http": {"type": "http-server", "port": 0, "maxConnections": 400, "headerTimeout": "5s", "requestBodyLimit": 4096},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "slow": {"type": "publish", "path": "/slow", "wait": "30s", "using": {"server": "http", "channel": "side"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
        }}
        """#

    static let handshake = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

    /// The binary on `system`, its base URL and port.
    static func start() async throws -> (LiveProcess, String, Int) {
        let dir = try temporaryDirectory()
        try system.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        let base = try #require(await p.listeningURL())
        #expect(await p.waitFor(#"system "wire" running"#))
        return (p, base, try #require(Int(base.split(separator: ":").last!)))
    }

    @Test func handshakesThatAnnounceABodyAreRefusedAndNeverUseUpTheConnections() async throws {
        let (p, base, port) = try await Self.start()
        defer { p.terminate() }
        // More than maxConnections of them, one after another: each is answered and closed.
        for i in 0..<600 {
            let (reply, closed) = try HostileHTTPTests.exchange(port, Array((Self.handshake + "Content-Length: 5\r\n\r\n").utf8))
            #expect(reply.hasPrefix("HTTP/1.1 400") && closed, "handshake \(i): \(reply.prefix(80))")
            if !reply.hasPrefix("HTTP/1.1 400") { break }
        }
        let res = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/nothing"), timeout: .seconds(5))
        #expect(res.status.code == 404, "a normal request is still served")
    }

    @Test func aClientPipeliningTenMegabytesBehindASlowAnswerCostsWhatOneReadHolds() async throws {
        let (p, _, port) = try await Self.start()
        defer { p.terminate() }
        let body = String(repeating: "b", count: 1000)
        let post = "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        // The first fills `side`; the second waits for room (30 s); 10,000 more follow at once.
        let fd = try HostileHTTPTests.connected(port)
        defer { close(fd) }
        let first = Array(post.utf8)
        _ = first.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        #expect(recv(fd, &buffer, buffer.count, 0) > 0, "the first is answered")
        let before = StalledResumeTests.rssKB(p.pid)
        var flag = fcntl(fd, F_GETFL)
        flag |= O_NONBLOCK
        _ = fcntl(fd, F_SETFL, flag)
        let burst = Array(String(repeating: post, count: 10_001).utf8)
        // Send until the socket takes nothing more for half a second (the server is not reading).
        var sent = 0
        while sent < burst.count {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&pfd, 1, 500) > 0 else { break }
            let n = burst[sent...].withUnsafeBytes { send(fd, $0.baseAddress, min($0.count, 65_536), Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n }
        }
        let after = StalledResumeTests.rssKB(p.pid)
        // The server stopped reading: most of the 10 MB never left the client's socket.
        #expect(sent < burst.count, "\(sent) of \(burst.count) bytes went out: the server kept reading")
        #expect(after - before < 4_000, "RSS grew \(after - before) KB while 10 MB were pipelined")
    }

    @Test func aConnectionClosePublishFollowedByMoreBytesIsAnswered202() async throws {
        let (p, _, port) = try await Self.start()
        defer { p.terminate() }
        let request = "POST /messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhiPOST /messages HTTP/1.1\r\nHost: x\r\n\r\n\u{0}junk"
        let (reply, closed) = try HostileHTTPTests.exchange(port, Array(request.utf8))
        #expect(reply.hasPrefix("HTTP/1.1 202") && closed, "\(reply)")
        #expect(reply.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer")
    }

    @Test func anUpgradeOnAPublishIsA400AndAHandshakeOnAKeptAliveConnectionUpgrades() async throws {
        let (p, _, port) = try await Self.start()
        defer { p.terminate() }
        let upgradePost = "POST /messages HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nhi"
        let (refused, _) = try HostileHTTPTests.exchange(port, Array(upgradePost.utf8))
        #expect(refused.hasPrefix("HTTP/1.1 400") && refused.contains("notUpgradable"), "\(refused)")

        let fd = try HostileHTTPTests.connected(port)
        defer { close(fd) }
        let both = "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n" + Self.handshake + "\r\n"
        _ = Array(both.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + .seconds(10)
        while !text.contains("HTTP/1.1 101"), ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            text += String(decoding: buffer[..<n], as: UTF8.self)
        }
        #expect(text.hasPrefix("HTTP/1.1 404") && text.contains("HTTP/1.1 101 Switching Protocols"), "\(text)")
        #expect(!text.contains("307"))
    }
}
