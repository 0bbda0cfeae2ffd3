import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardClient
import SwitchboardTesting
import Testing

/// `SwitchboardClient` against the real binary: publish with the ack, then a restart of the
/// server on the same port — the client comes back by itself and resumes, so what was said
/// while it was away arrives once, in order.
@Suite(.timeLimit(.minutes(2))) struct SwiftClientTests {
    /// The chat module's server on `port`, or on one of its choosing (0); returns it and its port.
    /// (A port picked beforehand and closed could be taken by another test's server in between.)
    func startServer(_ dir: String, port: Int = 0) async throws -> (LiveProcess, port: Int) {
        let server = try LiveProcess(switchboardBinary(), ["run", "--set", "port=\(port)", "--set", "ops=0"], directory: dir)
        let url = try #require(await server.listeningURL(of: "chat.http"))
        #expect(await server.waitFor(#"system "chat" running"#))
        return (server, try #require(url.split(separator: ":").last.flatMap { Int($0) }))
    }

    /// On the WebSocket (publish by frame), and on SSE alone (publish by POST).
    @Test(arguments: [SwitchboardClient.Transport.websocket, .sse])
    func theClientResumesAcrossAServerRestartWithNoGapAndNoDuplicate(_ transport: SwitchboardClient.Transport) async throws {
        let dir = try chatModuleSystem()
        var (server, port) = try await startServer(dir)
        defer { server.terminate() }
        let base = "http://127.0.0.1:\(port)"
        var options = SwitchboardClient.Options(url: base, name: "swift")
        options.transports = [transport]
        let client = SwitchboardClient(options)
        client.start()
        var events = client.events.makeAsyncIterator()
        func nextMessage() async -> ClientMessage? {
            while let e = await events.next() { if case .message(let m) = e { return m } }
            return nil
        }
        func untilLive() async {
            while let e = await events.next() { if case .status(.live) = e { return } }
        }
        await untilLive()
        let ack = try await client.publish("before the restart")
        #expect(ack.status == "stored")
        let first = await nextMessage()
        #expect(first?.text == "before the restart" && first?.id == ack.id && first?.from == "swift")

        server.terminate()
        _ = await server.waitForExit()
        server = try await startServer(dir, port: port).0
        for i in 0..<3 {
            var post = HTTPClientRequest(url: base + "/messages")
            post.method = .POST
            post.headers.add(name: "Content-Type", value: "application/json")
            post.body = .bytes(ByteBuffer(string: #"{"from": "ops", "text": "while away \#(i)"}"#))
            #expect(try await HTTPClient.shared.execute(post, timeout: .seconds(10)).status.code == 202)
        }
        var texts: [String] = []
        while texts.count < 3, let m = await nextMessage() { texts.append(m.text) }
        #expect(texts == ["while away 0", "while away 1", "while away 2"])
        let after = try await client.publish("after the restart")
        let last = await nextMessage()
        #expect(last?.text == "after the restart" && last?.id == after.id)
        #expect(client.lastID == after.id)
        #expect(client.transport == transport)
        await client.close()
    }

    /// A server without a WebSocket endpoint: after two failed handshakes the client reads the
    /// SSE endpoint, and stays there.
    @Test func withoutAWebSocketTheClientFallsBackToSSE() async throws {
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 64},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
              "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}}
            }}
            """#)
        defer { Task { await h.stop() } }
        let client = SwitchboardClient(.init(url: try await h.url(""), name: "swift"))
        client.start()
        var events = client.events.makeAsyncIterator()
        while let e = await events.next() { if case .status(.live) = e { break } }
        #expect(client.transport == .sse)
        let ack = try await client.publish("over a POST")
        var got: ClientMessage?
        while let e = await events.next() { if case .message(let m) = e { got = m; break } }
        #expect(got?.id == ack.id && got?.text == "over a POST" && got?.from == "swift")
        await client.close()
    }

    @Test func aRefusalComesBackWithTheServersReason() async throws {
        let dir = try chatModuleSystem()
        let (server, port) = try await startServer(dir)
        defer { server.terminate() }
        let client = SwitchboardClient(.init(url: "http://127.0.0.1:\(port)", name: "swift"))
        client.start()
        for await e in client.events { if case .status(.live) = e { break } }
        await #expect(throws: SwitchboardClient.Refusal.self) {
            _ = try await client.publish(String(repeating: "x", count: 100_000))
        }
        await client.close()
    }

    /// A client of every room is counted present where it says (`presence`), not in the lobby.
    @Test func aClientOfEveryRoomIsPresentWhereItSays() async throws {
        let h = try await WebHarness.start(PresenceTests.system)
        defer { Task { await h.stop() } }
        var options = SwitchboardClient.Options(url: try await h.url(""), name: "swift")
        options.presence = "dev"
        let client = SwitchboardClient(options)
        client.start()
        for await e in client.events { if case .status(.live) = e { break } }
        func online(_ room: String) async throws -> JSONValue? {
            try JSONParser.parse(try await h.request(.GET, "/presence?room=\(room)").body).value["online"]
        }
        // Counted once the server has the session (just after the 101 the client went live on).
        try await waitUntil("swift online in dev") { try await online("dev") == ["swift"] }
        #expect(try await online("lobby") == [])
        await client.close()
    }
}
