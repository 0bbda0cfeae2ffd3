import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// A plain `GET /events` is served on its connection ahead of Hummingbird (`StreamTakeover`);
/// everything around it must behave as before, byte for byte on a raw socket: the response
/// head with its CORS headers, refusals, a request pipelined behind another, a connection that
/// served something else first, and the end of the stream.
@Suite struct StreamTakeoverTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 64},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0, "cors": {"origins": ["https://chat.test"]}},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}}
        }}
        """#

    /// A raw connection: what it sent back so far, read until `done` holds or the server
    /// closes (10 s bound on the wait, not a sleep). The blocking reads run on a thread of
    /// their own, off the pool the server's tasks need.
    final class Wire: @unchecked Sendable {
        let fd: Int32
        // Behind a pthread lock (NSLock), which ThreadSanitizer sees, unlike Mutex's futex: the
        // reading thread writes them, the test reads them.
        private let lock = NSLock()
        private var received: [UInt8] = []
        private var isClosed = false
        var bytes: [UInt8] { lock.withLock { received } }
        var closed: Bool {
            get { lock.withLock { isClosed } }
            set { lock.withLock { isClosed = newValue } }
        }

        init(_ port: Int) throws { fd = try HostileHTTPTests.connected(port) }
        deinit { close(fd) }

        func send(_ text: String) {
            let b = Array(text.utf8)
            _ = b.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        var text: String { String(decoding: bytes, as: UTF8.self) }

        @discardableResult
        func read(until done: @escaping @Sendable (String) -> Bool) async -> Bool {
            await withCheckedContinuation { (finished: CheckedContinuation<Bool, Never>) in
                Thread { [self] in
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    // Long enough for a loaded full run (a 10 s read once ended before a
                    // close the server sent later); a read whose condition holds returns at once.
                    let deadline = ContinuousClock.now + .seconds(30)
                    while !done(text), !closed, ContinuousClock.now < deadline {
                        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                        guard poll(&pfd, 1, 100) > 0 else { continue }
                        let n = recv(fd, &buffer, buffer.count, 0)
                        if n <= 0 { closed = true } else { lock.withLock { received += buffer[..<n] } }
                    }
                    finished.resume(returning: done(text))
                }.start()
            }
        }
    }

    static func port(_ h: WebHarness) async throws -> Int {
        try #require(URL(string: try await h.url("/"))?.port)
    }

    /// A raw connection that sent `request` and got as far as the stream's `retry:`, once the
    /// endpoint counts its subscriber.
    static func subscribed(_ h: WebHarness, _ request: String) async throws -> (SSEEndpoint, Wire) {
        let events = try await h.component("events", as: SSEEndpoint.self)
        let wire = try Wire(try await port(h))
        wire.send(request)
        #expect(await wire.read { $0.contains("retry: ") })
        await waitUntil("the subscriber") { events.subscriberCount == 1 }
        return (events, wire)
    }

    @Test func theStreamCarriesItsHeadersEventsAndEndsWithItsLastChunk() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let (events, wire) = try await Self.subscribed(h, "GET /events?room=lobby HTTP/1.1\r\nHost: t\r\nOrigin: https://chat.test\r\n\r\n")
        let head = wire.text.lowercased()
        #expect(head.hasPrefix("http/1.1 200 ok\r\n"))
        for field in ["content-type: text/event-stream", "cache-control: no-cache", "transfer-encoding: chunked",
                      "access-control-allow-origin: https://chat.test", "server: switchboard", "date: ",
                      "connection: close"] {
            #expect(head.contains(field), "\(field)")
        }
        #expect(try await h.postJSON("/messages", #"{"from": "ann", "text": "to the lobby", "room": "lobby"}"#).status == 202)
        #expect(try await h.postJSON("/messages", #"{"from": "ann", "text": "elsewhere", "room": "dev"}"#).status == 202)
        #expect(try await h.postJSON("/messages", #"{"from": "ann", "text": "last", "room": "lobby"}"#).status == 202)
        #expect(await wire.read { $0.contains(#""text":"last""#) })
        #expect(wire.text.contains(#""text":"to the lobby""#))
        #expect(!wire.text.contains("elsewhere"), "another room's message")

        // Stopping the endpoint ends the stream with its last chunk, then closes the connection.
        _ = try await h.map.stop("events")
        let ended = await wire.read { _ in false }
        #expect(!ended && wire.closed)
        let body = try #require(wire.text.range(of: "\r\n\r\n")).upperBound
        let parsed = try #require(SSEChunkTests.chunks(Array(wire.text[body...].utf8)), "a malformed chunk")
        #expect(wire.text.hasSuffix("0\r\n\r\n"))
        #expect(parsed.payloads.last == "", "the last chunk")
        #expect(events.subscriberCount == 0)
    }

    @Test func aRefusalIsJSONAndClosesTheConnection() async throws {
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel"},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "auth": {"type": "auth", "keys": [{"alg": "HS256", "secret": "\#(AuthTests.secret)"}]},
              "events": {"type": "sse", "using": {"server": "http", "source": "fanout", "auth": "auth"}}
            }}
            """#)
        defer { Task { await h.stop() } }
        let port = try await Self.port(h)
        let anonymous = try Wire(port)
        anonymous.send("GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        await anonymous.read { _ in false }
        #expect(anonymous.closed)
        #expect(anonymous.text.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"))
        #expect(anonymous.text.lowercased().contains("connection: close"))
        #expect(anonymous.text.lowercased().contains("www-authenticate: bearer"))
        #expect(anonymous.text.contains(#""reason":"missingToken""#) && anonymous.text.hasSuffix("}\n"))

        let token = try await AuthTests.hs256(AuthTests.claims(iss: nil, aud: nil, rooms: ["lobby"]))
        let elsewhere = try Wire(port)
        elsewhere.send("GET /events?room=dev HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\n\r\n")
        await elsewhere.read { _ in false }
        #expect(elsewhere.closed)
        #expect(elsewhere.text.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect(elsewhere.text.contains(#""reason":"forbiddenRoom""#))

        let allowed = try Wire(port)
        allowed.send("GET /events?room=lobby HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\n\r\n")
        #expect(await allowed.read { $0.contains("retry: ") })
        #expect(allowed.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    /// A connection whose first request is a stream is the stream's alone (Hummingbird let go
    /// of it): what the client sends on it afterwards — even bytes that are not HTTP — is
    /// dropped and the stream goes on; the client's hang-up still ends it at once.
    @Test func aStreamOwnsItsConnectionAndIgnoresWhatTheClientSendsOnIt() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let (events, wire) = try await Self.subscribed(h, "GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        wire.send("\u{1}\u{2} not HTTP at all \r\n\r\nGET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try await h.postJSON("/messages", #"{"from": "ann", "text": "still here"}"#).status == 202)
        #expect(await wire.read { $0.contains(#""text":"still here""#) })
        #expect(!wire.closed)
        #expect(wire.text.components(separatedBy: "HTTP/1.1 ").count == 2, "one response on the connection")
        #expect(events.subscriberCount == 1)
        shutdown(wire.fd, Int32(SHUT_RDWR))
        await waitUntil("the subscriber leaves") { events.subscriberCount == 0 }
    }

    /// A stream asked for after another request on the same connection — kept alive (a
    /// browser's EventSource reusing the page's connection), or pipelined behind it — gets
    /// its answer after the other one's, complete, and its events.
    @Test func aStreamAfterAnotherRequestOnTheConnectionWorks() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let events = try await h.component("events", as: SSEEndpoint.self)
        let port = try await Self.port(h)
        let publish = "POST /messages HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfirst"
        let stream = "GET /events HTTP/1.1\r\nHost: t\r\n\r\n"

        let kept = try Wire(port)
        kept.send(publish)
        #expect(await kept.read { $0.contains("HTTP/1.1 202 Accepted\r\n") && $0.hasSuffix("}\n") })
        kept.send(stream)
        #expect(await kept.read { $0.contains("retry: ") })

        let piped = try Wire(port)
        piped.send(publish + stream)
        #expect(await piped.read { $0.contains("retry: ") })
        let accepted = try #require(piped.text.range(of: "HTTP/1.1 202 Accepted\r\n"))
        let ok = try #require(piped.text.range(of: "HTTP/1.1 200 OK\r\n"))
        #expect(accepted.upperBound <= ok.lowerBound, "answers in the order asked")

        await waitUntil("both subscribers") { events.subscriberCount == 2 }
        #expect(try await h.postJSON("/messages", #"{"from": "ann", "text": "to both"}"#).status == 202)
        #expect(await kept.read { $0.contains(#""text":"to both""#) })
        #expect(await piped.read { $0.contains(#""text":"to both""#) })
    }

    /// A GET with a body, and HEAD, are Hummingbird's to answer, as before.
    @Test func headIsAnsweredAndAGetWithABodyIsRefused() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let port = try await Self.port(h)
        let head = try Wire(port)
        head.send("HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(await head.read { $0.hasSuffix("\r\n\r\n") })
        #expect(head.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.text.lowercased().contains("content-type: text/event-stream"))

        let withBody = try Wire(port)
        withBody.send("GET /events HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        // A stream's GET carries no body: a clear 400, and the connection closes.
        #expect(await withBody.read { $0.contains("takes no body") })
        #expect(withBody.text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }
}
