import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import Switchboard
import SwitchboardChannels
import SwitchboardWeb
import Synchronization
import Testing

/// Live: real sockets on port 0, AsyncHTTPClient streaming for SSE, HummingbirdWSClient for
/// WebSockets.
@Suite struct StreamingTests {
    static func system(history: Int = 100, heartbeat: String = "15s", format: String = "json") -> String {
        #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 64, "transforms": ["emoticons"]},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "history": \#(history), "heartbeat": "\#(heartbeat)", "format": "\#(format)", "retry": 1500,
                     "using": {"server": "http", "source": "fanout"}},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
        }}
        """#
    }

    func post(_ h: WebHarness, _ text: String, from: String = "ann", room: String? = nil) async throws -> String {
        let roomField = room.map { #", "room": "\#($0)""# } ?? ""
        let r = try await h.postJSON("/messages", #"{"from": "\#(from)", "text": "\#(text)"\#(roomField)}"#)
        #expect(r.status == 202)
        return try #require(r.body["id"]?.stringValue)
    }

    /// Posts `texts` and waits until a subscriber has seen them all: by then they are in the
    /// history too (the pump records before it delivers).
    func postAndSee(_ h: WebHarness, _ texts: [String]) async throws -> [String] {
        let watcher = try await SSEReader(try await h.url("/events"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        var ids: [String] = []
        for t in texts { ids.append(try await post(h, t)) }
        for id in ids { #expect(try await watcher.next()?.id == id) }
        return ids
    }

    @Test func sseStreamsMessagesWithIdsEventsAndRetry() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let reader = try await SSEReader(try await h.url("/events"))
        #expect(reader.status == 200)
        #expect(reader.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true)
        #expect(reader.headers.first(name: "x-accel-buffering") == "no")
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        var ids: [String] = []
        for text in ["one", "two :)", "three"] { ids.append(try await post(h, text)) }
        var got: [SSEReader.Event] = []
        for _ in 0..<3 { got.append(try #require(try await reader.next())) }
        #expect(got.map(\.id) == ids)
        #expect(got.allSatisfy { $0.event == "message" })
        let second = try JSONParser.parse(got[1].data).value
        #expect(second["text"] == "two 🙂")
        #expect(second["id"]?.stringValue == ids[1])
        #expect(reader.retries == [1500])
    }

    @Test func multiLineTextIsSplitIntoDataLines() async throws {
        let h = try await WebHarness.start(Self.system(format: "text"))
        defer { Task { await h.stop() } }
        let reader = try await SSEReader(try await h.url("/events"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        _ = try await h.request(.POST, "/messages?from=x", headers: [("Content-Type", "text/plain")], body: "first\nsecond\r\nthird\rfourth")
        let e = try #require(try await reader.next())
        #expect(e.data == "first\nsecond\nthird\nfourth")
    }

    @Test func lastEventIDResumesWithEveryMissedMessage() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let ids = try await postAndSee(h, ["a", "b", "c", "d"])
        let reader = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", ids[1])])
        let first = try #require(try await reader.next())
        let second = try #require(try await reader.next())
        #expect([first.id, second.id] == [ids[2], ids[3]])
        // Live messages follow the replay, without duplicates.
        let next = try await post(h, "e")
        #expect(try await reader.next()?.id == next)
        // The query form works too (EventSource cannot set headers on its first request).
        let q = try await SSEReader(try await h.url("/events?lastEventId=\(ids[2])"))
        #expect(try await q.next()?.id == ids[3])
    }

    @Test func aResumeBeyondTheHistorySaysSoExplicitly() async throws {
        let h = try await WebHarness.start(Self.system(history: 2))
        defer { Task { await h.stop() } }
        let ids = try await postAndSee(h, ["a", "b", "c", "d"])
        let reader = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", ids[0])])
        let gap = try #require(try await reader.next())
        #expect(gap.event == "gap")
        #expect(gap.id == nil)
        let notice = try JSONParser.parse(gap.data).value
        #expect(notice["lastEventId"]?.stringValue == ids[0])
        #expect(try await reader.next()?.id == ids[2])
        #expect(try await reader.next()?.id == ids[3])
    }

    @Test func roomFilterDeliversOnlyThatRoom() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let reader = try await SSEReader(try await h.url("/events?room=dev"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        _ = try await post(h, "lobby talk")
        let dev = try await post(h, "dev talk", room: "dev")
        let e = try #require(try await reader.next())
        #expect(e.id == dev)
    }

    @Test func heartbeatsAreComments() async throws {
        let h = try await WebHarness.start(Self.system(heartbeat: "20ms"))
        defer { Task { await h.stop() } }
        let reader = try await SSEReader(try await h.url("/events"))
        #expect(try await reader.waitForComment())
        #expect(reader.comments.first == ": ping")
    }

    @Test func disconnectingRemovesTheSubscriberAndItsTap() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let events = try await h.component("events", as: SSEEndpoint.self)
        for _ in 0..<200 {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let req = HTTPClientRequest(url: try await h.url("/events"))
            let res = try await client.execute(req, timeout: .seconds(10))
            var it = res.body.makeAsyncIterator()
            _ = try await it.next()  // the retry line: the subscriber is in
            try await client.shutdown()
        }
        await waitUntil("no subscriber", limit: .seconds(120)) { events.subscriberCount == 0 }
        #expect(events.subscriberCount == 0)
        let figures = try await h.map.inspect("fanout")["figures"]
        #expect(figures?["tapCount"] == 0)  // no subscriber left a tap behind
        #expect(figures?["listeners"] == 2)  // the sse and websocket endpoints' own, in the mult's loop
    }

    @Test func webSocketRoundTripWithTheSameIdEverywhere() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let sse = try await SSEReader(try await h.url("/events"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        let url = try await h.url("/ws?name=bob").replacingOccurrences(of: "http://", with: "ws://")
        // The ack and the message travel separately: read until both are in.
        let seen = Mutex<Set<String>>([])
        let all = try await FrameLog.exchange(url, sending: [#"{"text": "not JSON"#, #"{"text": "hello :)"}"#]) { frame in
            seen.withLock { s in
                if let t = frame["type"]?.stringValue { s.insert(t) }
                return s.contains("ack") && s.contains("message")
            }
        }
        #expect(all.first?["type"] == "error")
        let ack = try #require(all.first { $0["type"] == "ack" })
        let message = try #require(all.first { $0["type"] == "message" })
        #expect(message["from"] == "bob")
        #expect(message["text"] == "hello 🙂")
        #expect(message["id"] == ack["id"])
        let viaSSE = try #require(try await sse.next())
        #expect(viaSSE.id == ack["id"]?.stringValue)
    }

    @Test func aWebSocketClientCanNameItselfInAFirstFrame() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let url = try await h.url("/ws").replacingOccurrences(of: "http://", with: "ws://")
        let all = try await FrameLog.exchange(url, sending: [#"{"text": "too early"}"#, #"{"name": "cy"}"#, #"{"text": "now", "room": "dev"}"#]) { $0["type"] == "message" }
        #expect(all[0]["type"] == "error")
        #expect(all[1]["type"] == "hello")
        #expect(all.contains { $0["type"] == "message" && $0["from"] == "cy" && $0["room"] == "dev" })
    }

    @Test func publishAndWebSocketRefuseTheSameMistakesWithTheSameReason() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let url = try await h.url("/ws?name=bob").replacingOccurrences(of: "http://", with: "ws://")
        for (frame, reason) in [
            (#"{"text": "hi", "romm": "dev"}"#, #"unknown field "romm" (did you mean "room"?)"#),
            (#"{"text": "hi", "to": 5}"#, #""to" must be a string, found an integer"#),
            (#"{"text": "hi", "room": 7}"#, #""room" must be a string, found an integer"#),
        ] {
            let posted = try await h.postJSON("/messages", frame)
            #expect(posted.status == 400)
            #expect(posted.body["error"]?.stringValue?.contains(reason) == true, "publish: \(posted.body)")
            let frames = try await FrameLog.exchange(url, sending: [frame]) { $0["type"] == "error" || $0["type"] == "ack" }
            #expect(frames.last?["error"]?.stringValue?.contains(reason) == true, "websocket: \(frames)")
        }
    }

    @Test func stoppingTheEndpointEndsItsStreamsButNotTheServer() async throws {
        let h = try await WebHarness.start(Self.system())
        defer { Task { await h.stop() } }
        let reader = try await SSEReader(try await h.url("/events"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("a subscriber", limit: .seconds(120)) { events.subscriberCount > 0 }
        try await h.map.stop("events")
        #expect(try await reader.next() == nil)
        #expect(try await h.request(.GET, "/events").status == 404)
        #expect(try await h.postJSON("/messages", #"{"text": "still here"}"#).status == 202)
    }
}

/// Frames a WebSocket test saw.
final class FrameLog: @unchecked Sendable {
    private var frames: [JSONValue] = []
    private let lock = NSLock()
    func append(_ f: JSONValue) { lock.withLock { frames.append(f) } }
    var all: [JSONValue] { lock.withLock { frames } }

    /// Connects a real WebSocket client to `url`, sends `frames` (text), and collects the JSON
    /// frames it receives up to and including the first for which `last` is true.
    static func exchange(_ url: String, sending frames: [String] = [], until last: @escaping @Sendable (JSONValue) -> Bool) async throws -> [JSONValue] {
        let log = FrameLog()
        try await WebSocketClient.connect(url: url, logger: Logger(label: "ws")) { inbound, outbound, _ in
            for f in frames { try await outbound.write(.text(f)) }
            for try await message in inbound.messages(maxSize: 1 << 16) {
                guard case .text(let s) = message else { continue }
                let frame = try JSONParser.parse(s).value
                log.append(frame)
                if last(frame) { break }
            }
        }
        return log.all
    }
}

/// A `pub` as the source of the stream endpoints (the tap-and-pump path, where a mult runs a
/// listener): messages arrive on SSE and WebSocket alike.
@Suite struct PubSourceTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 64},
          "rooms": {"type": "pub", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "rooms"}},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "rooms", "channel": "inbox"}}
        }}
        """#

    @Test func sseAndWebSocketStreamFromAPub() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let sse = try await SSEReader(try await h.url("/events?room=dev"))
        let events = try await h.component("events", as: SSEEndpoint.self)
        await waitUntil("the subscriber") { events.subscriberCount == 1 }
        let ws = try await h.url("/ws?name=bob&room=dev").replacingOccurrences(of: "http://", with: "ws://")
        let socket = Task { try await FrameLog.exchange(ws, sending: [#"{"text": "from the socket", "room": "dev"}"#]) { $0["type"] == "message" && $0["text"] == "from curl" } }
        // The socket's own message comes back to it first; then one published over HTTP.
        #expect(try await sse.next().map { try JSONParser.parse($0.data).value["text"] } == "from the socket")
        #expect(try await h.postJSON("/messages", #"{"from": "ann", "text": "elsewhere", "room": "ops"}"#).status == 202)
        #expect(try await h.postJSON("/messages", #"{"from": "ann", "text": "from curl", "room": "dev"}"#).status == 202)
        #expect(try await sse.next().map { try JSONParser.parse($0.data).value["text"] } == "from curl")
        let frames = try await socket.value.filter { $0["type"] == "message" }.compactMap { $0["text"]?.stringValue }
        #expect(frames == ["from the socket", "from curl"])
        // Both endpoints listen in the pub's own loop, as they would on a mult.
        let rooms = try await h.component("rooms", as: PubComponent.self)
        #expect(await rooms.inspect()["listeners"] == 2)
        #expect(await events.inspect()["hub"] == "listener in the source's loop")
    }

    /// While the SSE endpoint is suspended (as a reload that restarts it does) its relay on the
    /// pub keeps what is published meanwhile, and the endpoint takes it over when it resumes: a
    /// client resuming from before gets every message, in order, none twice. (A pub used to be
    /// tapped, and what it routed while the endpoint was away reached nobody.)
    @Test func anSSEEndpointOnAPubMissesNothingPublishedWhileItWasSuspended() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let events = try await h.component("events", as: SSEEndpoint.self)
        let inbox = try await h.component("inbox", as: ChannelComponent.self)
        func publish(_ text: String) async throws -> String {
            let r = try await h.postJSON("/messages", #"{"from": "p", "text": "\#(text)"}"#)
            #expect(r.status == 202)
            return r.body["id"]?.stringValue ?? ""
        }
        let first = try await publish("before")
        let suspended = try await events.suspend()
        var ids: [String] = []
        for i in 0..<5 { ids.append(try await publish("meanwhile \(i)")) }
        // Every one has left the channel for the pub before the endpoint comes back.
        await waitUntil("the pub took them") { await inbox.inspect()["count"] == 0 }
        try await events.resume(from: try #require(suspended))
        ids.append(try await publish("after"))
        let reader = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", first)])
        var got: [String] = []
        // Up to the last one published, which arrives either way.
        while got.last != ids.last, let e = try await reader.next() {
            if e.event == "message" { got.append(e.id ?? "") }
        }
        #expect(got == ids)
    }
}
