import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Testing

/// Live events are written as ready-made HTTP chunks at the front of the pipeline, past the
/// HTTP encoder: read off a raw socket, the stream must be exact HTTP/1.1 chunked encoding.
@Suite struct SSEChunkTests {
    /// The payloads of the complete chunks in `body`, strictly parsed; nil when one is malformed.
    static func chunks(_ body: [UInt8]) -> (payloads: [String], rest: Int)? {
        var i = 0
        var payloads: [String] = []
        while true {
            guard let lineEnd = (i..<max(i, body.count - 1)).first(where: { body[$0] == 13 && body[$0 + 1] == 10 }) else { return (payloads, i) }
            guard let size = Int(String(decoding: body[i..<lineEnd], as: UTF8.self), radix: 16) else { return nil }
            let start = lineEnd + 2
            guard start + size + 2 <= body.count else { return (payloads, i) }
            guard body[start + size] == 13, body[start + size + 1] == 10 else { return nil }
            payloads.append(String(decoding: body[start..<(start + size)], as: UTF8.self))
            i = start + size + 2
        }
    }

    @Test func liveEventsAreExactChunksOnTheWire() async throws {
        let h = try await WebHarness.start(HostileHTTPTests.system)
        defer { Task { await h.stop() } }
        let port = try #require(URL(string: try await h.url("/"))?.port)
        let fd = try HostileHTTPTests.connected(port)
        defer { close(fd) }
        let request = Array("GET /events HTTP/1.1\r\nHost: test\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("the subscriber") { events.subscriberCount == 1 }

        let texts = ["one", "two\nlines", "ünïcødé 🙂 " + String(repeating: "x", count: 600)]
        for t in texts {
            let body = JSONValue.object(["from": "ann", "text": .string(t)]).jsonText
            #expect(try await h.postJSON("/messages", body).status == 202)
        }
        // Read until the three events are in (a bound of 10 s, not a sleep).
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var payloads: [String] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            bytes += buffer[..<n]
            guard let head = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { continue }
            #expect(String(decoding: bytes[..<head.lowerBound], as: UTF8.self).lowercased().contains("transfer-encoding: chunked"))
            let parsed = try #require(Self.chunks(Array(bytes[head.upperBound...])), "a malformed chunk")
            payloads = parsed.payloads
            if payloads.joined().contains("xxxxx\"}\n\n") { break }
        }
        let stream = payloads.joined()
        #expect(stream.hasPrefix("retry: "))
        #expect(stream.contains(#""text":"one""#))
        #expect(stream.contains(#""text":"two\nlines""#))
        #expect(stream.contains("ünïcødé 🙂 "))
        #expect(stream.hasSuffix("xxxxx\"}\n\n"), "the last event is complete")
    }
}
