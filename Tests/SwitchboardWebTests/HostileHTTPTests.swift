import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// Malformed and hostile HTTP over a real socket: every request gets an answer and the
/// connection closes, instead of hanging.
@Suite struct HostileHTTPTests {
    /// A head gets 1 s: short enough for the 408 case, long enough that a loaded full run (two
    /// cores, a browser and PostgreSQL beside the tests) does not answer the 1 MB URL or the
    /// follow-up publish with a 408, as it once did at 300 ms.
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 8},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0, "headerTimeout": "1s", "requestBodyLimit": 1024},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}}
        }}
        """#

    /// Sends `bytes` on a fresh connection and reads until the server closes it (or 5 s pass:
    /// a bound on the wait, not a sleep); returns what came back and whether it closed.
    static func exchange(_ port: Int, _ bytes: [UInt8]) throws -> (reply: String, closed: Bool) {
        let (reply, closed) = try exchangeBytes(port, bytes)
        return (String(decoding: reply, as: UTF8.self), closed)
    }

    /// A socket connected to 127.0.0.1:`port`, with a receive buffer of `receiveBuffer`
    /// bytes when given.
    static func connected(_ port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 { close(fd) }
        try #require(rc == 0)
        return fd
    }

    static func exchangeBytes(_ port: Int, _ bytes: [UInt8]) throws -> (reply: [UInt8], closed: Bool) {
        let fd = try connected(port)
        defer { close(fd) }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may close before reading everything
            sent += n
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (reply, true) }
            reply += buffer[..<n]
        }
        return (reply, false)
    }

    /// Connects with a small receive buffer, sends `bytes` and returns the socket without
    /// ever reading from it (a client that stalls).
    static func connectNeverReading(_ port: Int, _ bytes: [UInt8]) throws -> Int32 {
        let fd = try connected(port, receiveBuffer: 4096)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return fd
    }

    static func status(_ reply: String) -> Int? {
        let parts = reply.split(separator: " ", maxSplits: 2)
        return parts.count > 1 ? Int(parts[1]) : nil
    }

    /// A hostile request, shown in the test report by name (some are megabytes long).
    struct Hostile: Sendable, CustomTestStringConvertible {
        let name: String
        let request: String
        let expected: Int
        var testDescription: String { name }
    }

    @Test(arguments: [
        Hostile(name: "a bad request line", request: "GARBAGE\r\n\r\n", expected: 400),
        Hostile(name: "HTTP/0.9", request: "GET /\r\n\r\n", expected: 400),
        Hostile(name: "a negative Content-Length", request: "POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", expected: 400),
        Hostile(name: "two Content-Lengths", request: "POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", expected: 400),
        Hostile(name: "Content-Length with chunked", request: "POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", expected: 400),
        Hostile(name: "a bad chunk size", request: "POST /messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", expected: 400),
        Hostile(name: "a huge header", request: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n", expected: 431),
        Hostile(name: "10,000 headers", request: "GET / HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-A: b\r\n", count: 10_000) + "\r\n", expected: 431),
        Hostile(name: "a 1 MB URL", request: "GET /" + String(repeating: "a", count: 1 << 20) + " HTTP/1.1\r\nHost: x\r\n\r\n", expected: 431),
        Hostile(name: "only a request line", request: "GET /events HTTP/1.1\r\n", expected: 408),
        Hostile(name: "a body over the limit", request: "POST /messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "a", count: 100), expected: 413),
    ])
    func malformedRequestsAreAnsweredAndClosed(_ hostile: Hostile) async throws {
        let (name, request, expected) = (hostile.name, hostile.request, hostile.expected)
        let h = try await WebHarness.start(Self.system)
        let port = try #require(try await h.component("http", as: HTTPServerComponent.self).boundPort)
        let (reply, closed) = try await ConsoleFreeThread.run { try Self.exchange(port, Array(request.utf8)) }
        #expect(Self.status(reply) == expected, "\(name): \(reply.prefix(200))")
        #expect(closed, "\(name): the connection stayed open")
        // The server still serves everyone else.
        #expect(try await h.postJSON("/messages", #"{"text": "still here"}"#).status == 202)
        await h.stop()
    }

    @Test func headOnTheStreamDoesNotSubscribe() async throws {
        let h = try await WebHarness.start(Self.system)
        let r = try await h.request(.HEAD, "/events")
        #expect(r.status == 200)
        #expect(try await h.component("events", as: SSEEndpoint.self).subscriberCount == 0)
        await h.stop()
    }
}

/// Runs blocking socket code on a thread of its own (off the cooperative pool).
enum ConsoleFreeThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            Thread { c.resume(with: Result { try body() }) }.start()
        }
    }
}
