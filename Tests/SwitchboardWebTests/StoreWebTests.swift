import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import Switchboard
import SwitchboardChannels
import SwitchboardStore
import SwitchboardTesting
import SwitchboardWeb
import Testing

/// The store as the web edge uses it: stored acks, history pages, resume from disk.
@Suite struct StoreWebTests {
    static func system(path: String, ack: String? = nil, retention: String = "{}", lockTimeout: String = "5s", store: Bool = true) -> String {
        var parts = [
            #""inbox": {"type": "channel", "buffer": {"size": 1024}}"#,
            #""fanout": {"type": "mult", "using": {"source": "inbox"}}"#,
            #""http": {"type": "http-server", "port": 0}"#,
            #""events": {"type": "sse", "history": 20, "using": {"server": "http", "source": "fanout"\#(store ? #", "history": "archive""# : "")}}"#,
            #""ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"\#(store ? #", "history": "archive", "store": "archive""# : "")}}"#,
            // A commit may take seconds while the whole suite loads two cores: a publish and a
            // commit get 10 s before a 503 (a stored ack timed out once at 2 s in a full run).
            #""publish": {"type": "publish", "wait": "10s", \#(ack.map { #""ack": "\#($0)", "# } ?? "")"using": {"server": "http", "channel": "inbox"\#(store ? #", "store": "archive""# : "")}}"#,
        ]
        if store {
            parts.append(#""archive": {"type": "store", "path": "\#(path)", "retention": \#(retention), "lockTimeout": "\#(lockTimeout)", "commitTimeout": "10s", "using": {"source": "fanout"}}"#)
            parts.append(#""history": {"type": "history", "using": {"server": "http", "store": "archive"}}"#)
        }
        return #"{"name": "t", "components": {"# + parts.joined(separator: ",\n") + "}}"
    }

    func publish(_ h: WebHarness, _ text: String, room: String? = nil) async throws -> (status: Int, body: JSONValue) {
        let roomField = room.map { #", "room": "\#($0)""# } ?? ""
        return try await h.postJSON("/messages", #"{"from": "ann", "text": "\#(text)"\#(roomField)}"#)
    }

    func history(_ h: WebHarness, _ query: String) async throws -> (status: Int, body: JSONValue) {
        let r = try await h.request(.GET, "/history" + query)
        return (r.status, try JSONParser.parse(r.body).value)
    }

    @Test func aStoredAckMeansTheMessageIsInTheStore() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(Self.system(path: path))
        defer { Task { await h.stop() } }
        var ids: [String] = []
        for i in 0..<20 {
            let r = try await publish(h, "m\(i)")
            #expect(r.status == 202)
            #expect(r.body["status"] == "stored")
            ids.append(try #require(r.body["id"]?.stringValue))
        }
        // Read back through history, which queries the same file: every acked id is there.
        let page = try await history(h, "?limit=500")
        #expect(page.body["messages"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ids.reversed())
        let figures = try await h.map.inspect("archive")["figures"]
        #expect(figures?["rows"]?.intValue == 20)
        #expect(figures?["lag"]?.intValue == 0)
        #expect(figures?["newest"]?["id"]?.stringValue == ids.last)
    }

    @Test func anAcceptedAckDoesNotWaitAndSaysSo() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(Self.system(path: path, ack: "accepted"))
        defer { Task { await h.stop() } }
        let r = try await publish(h, "quick")
        #expect(r.status == 202 && r.body["status"] == "accepted")
    }

    @Test func ackStoredWithoutAStoreIsAConfigError() throws {
        let json = #"{"components": {"inbox": {"type": "channel"}, "http": {"type": "http-server", "port": 0}, "p": {"type": "publish", "ack": "stored", "using": {"server": "http", "channel": "inbox"}}}}"#
        let error = #expect(throws: ConfigErrors.self) { try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: json) }
        #expect(error?.issues.contains { $0.path.description == "components.p.ack" && $0.message.contains("needs a store") } == true)
    }

    @Test func historyPagesBothWaysByRoomAndRefusesBadCursors() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(Self.system(path: path))
        defer { Task { await h.stop() } }
        var dev: [String] = []
        for i in 0..<7 {
            _ = try await publish(h, "lobby \(i)")
            dev.append(try #require(try await publish(h, "dev \(i)", room: "dev").body["id"]?.stringValue))
        }
        // Newest first, three at a time, then older pages with `before`.
        var got: [String] = []
        var page = try await history(h, "?room=dev&limit=3")
        while true {
            got += page.body["messages"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            guard let next = page.body["next"]?.stringValue else { break }
            page = try await history(h, "?room=dev&limit=3&before=\(next)")
        }
        #expect(got == dev.reversed())
        // Oldest first with `after`.
        let after = try await history(h, "?room=dev&limit=2&after=\(dev[1])")
        #expect(after.body["messages"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [dev[2], dev[3]])
        #expect(after.body["next"]?.stringValue == dev[3])
        // The default room holds the messages that named none.
        let lobby = try await history(h, "?room=lobby&limit=500")
        #expect(lobby.body["messages"]?.arrayValue?.count == 7)

        for bad in ["?before=abc", "?after=-1", "?limit=0", "?limit=501", "?limit=x", "?before=1&after=2"] {
            let r = try await history(h, bad)
            #expect(r.status == 400, "\(bad)")
            #expect(r.body["error"]?.stringValue?.isEmpty == false)
        }
    }

    @Test func sseAndWebSocketClientsResumeFromTheStoreAfterARestart() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        var ids: [String] = []
        do {
            let first = try await WebHarness.start(Self.system(path: path))
            for i in 0..<200 { ids.append(try #require(try await publish(first, "m\(i)").body["id"]?.stringValue)) }
            await first.stop()
        }
        // A new system on the same file: its ring is empty, the store has everything.
        let h = try await WebHarness.start(Self.system(path: path))
        defer { Task { await h.stop() } }
        let sse = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", ids[49])])
        var resumed: [String] = []
        while resumed.count < 150, let e = try await sse.next() {
            #expect(e.event == "message", "no gap: \(e)")
            resumed.append(e.id ?? "")
        }
        #expect(resumed == Array(ids[50...]))
        // Then live ones.
        let live = try #require(try await publish(h, "after the restart").body["id"]?.stringValue)
        #expect(try await sse.next()?.id == live)
        #expect(try #require(MessageID(live)) > MessageID(ids.last!)!)

        // The same through WebSocket, with ?lastEventId=.
        let url = try await h.url("/ws?name=bob&lastEventId=\(ids[189])").replacingOccurrences(of: "http://", with: "ws://")
        let all = try await FrameLog.exchange(url) { $0["type"] == "resumed" || $0["type"] == "error" }
        #expect(all.filter { $0["type"] == "message" }.compactMap { $0["id"]?.stringValue } == Array(ids[190...]) + [live])
        #expect(all.last?["gap"] == false)
    }

    @Test func aWebSocketClientResumesWithAResumeFrame() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(Self.system(path: path))
        defer { Task { await h.stop() } }
        var ids: [String] = []
        for i in 0..<5 { ids.append(try #require(try await publish(h, "m\(i)").body["id"]?.stringValue)) }
        let url = try await h.url("/ws?name=bob").replacingOccurrences(of: "http://", with: "ws://")
        let all = try await FrameLog.exchange(url, sending: [#"{"resume": "\#(ids[1])"}"#, #"{"text": "stored over ws"}"#]) {
            $0["type"] == "ack" || $0["type"] == "error"
        }
        #expect(Array(all.prefix(3).compactMap { $0["id"]?.stringValue }) == Array(ids[2...]))
        #expect(all[3]["type"] == "resumed" && all[3]["count"] == 3 && all[3]["gap"] == false)
        #expect(all.last?["status"] == "stored")
    }

    @Test func aResumeOlderThanRetentionKeptIsAGap() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(Self.system(path: path, retention: #"{"maxMessages": 10}"#))
        defer { Task { await h.stop() } }
        var ids: [String] = []
        for i in 0..<40 { ids.append(try #require(try await publish(h, "m\(i)").body["id"]?.stringValue)) }
        let store = try await h.component("archive", as: StoreComponent.self)
        _ = await store.prune()  // the store also prunes by itself, every pruneInterval
        #expect(try await h.map.inspect("archive")["figures"]?["rows"]?.intValue == 10)
        // The ring (20) no longer has message 5, and retention removed what followed it.
        let sse = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", ids[5])])
        #expect(try await sse.next()?.event == "gap")
        // From a kept id: no gap.
        let kept = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", ids[35])])
        #expect(try await kept.next()?.id == ids[36])
    }

    @Test func aResumePastTheResumeLimitGetsTheNewestAndAGapOnBothTransports() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let system = Self.system(path: path)
            .replacingOccurrences(of: #""type": "sse", "history": 20,"#, with: #""type": "sse", "history": 5, "resumeLimit": 7,"#)
            .replacingOccurrences(of: #""type": "websocket","#, with: #""type": "websocket", "resumeLimit": 7,"#)
        let h = try await WebHarness.start(system)
        defer { Task { await h.stop() } }
        var ids: [String] = []
        for i in 0..<40 { ids.append(try #require(try await publish(h, "m\(i)").body["id"]?.stringValue)) }
        // Missed 38 (after m1): the newest 7 come, after a gap notice naming the oldest sent.
        let sse = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", ids[1])])
        let gap = try #require(try await sse.next())
        let notice = try JSONParser.parse(gap.data).value
        #expect(gap.event == "gap" && notice["oldest"]?.stringValue == ids[33])
        var got: [String] = []
        while got.count < 7, let e = try await sse.next() { if let id = e.id { got.append(id) } }
        #expect(got == Array(ids[33...]))
        let url = try await h.url("/ws?name=bob&lastEventId=\(ids[1])").replacingOccurrences(of: "http://", with: "ws://")
        let frames = try await FrameLog.exchange(url) { $0["type"] == "resumed" }
        #expect(frames.filter { $0["type"] == "message" }.compactMap { $0["id"]?.stringValue } == Array(ids[33...]))
        #expect(frames.last?["gap"] == true && frames.last?["count"] == 7)
        // Missed exactly the limit: everything, no gap.
        let exact = try await SSEReader(try await h.url("/events"), headers: [("Last-Event-ID", ids[32])])
        #expect(try await exact.next()?.id == ids[33])
    }

    @Test func idsKeepGrowingAfterTheStoreSeesANewerOne() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let engine = SQLiteEngine(path: path, logger: .tests)
        try await engine.open()
        // As if the clock had been an hour ahead when this was written.
        let future = MessageID(rawValue: MessageID.next().rawValue + 3_600_000_000)
        try await engine.append([Message(from: "x", text: "from the future", id: future)])
        await engine.close()
        let h = try await WebHarness.start(Self.system(path: path))
        defer { Task { await h.stop() } }
        let id = try #require(try await publish(h, "now").body["id"]?.stringValue.flatMap(MessageID.init))
        #expect(id > future)
    }

    @Test func aWriteFailureAnswers503AndMarksTheStoreFailedUntilItStartsAgain() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(Self.system(path: path, lockTimeout: "50ms"), logger: .expectingFailures)
        defer { Task { await h.stop() } }
        #expect(try await publish(h, "before").status == 202)
        let holder = try await SQLiteLockHolder.lock(path)
        let r = try await publish(h, "while locked")
        #expect(r.status == 503)
        #expect(r.body["error"]?.stringValue?.contains("locked by another process") == true)
        await waitUntil("the archive to stop running", limit: .seconds(120)) { await h.map.state(of: "archive") != .running }
        guard case .failed(let why)? = await h.map.state(of: "archive") else { Issue.record("not failed"); return }
        #expect(why.phase == .running)
        let cause = try #require(why.error as? StoreFailure)
        #expect(cause.reason == .locked && cause.location.hasSuffix(path))
        #expect(r.body["delivered"] == true)
        // Later publishes are refused at once, before they are put (a retry makes no duplicate).
        let refused = try await publish(h, "still failed")
        #expect(refused.status == 503 && refused.body["delivered"] == false)
        await holder.release()
        try await h.map.start("archive")
        #expect(try await publish(h, "after").body["status"] == "stored")
        let texts = try await history(h, "?limit=10").body["messages"]?.arrayValue?.compactMap { $0["text"]?.stringValue }
        #expect(texts?.first == "after" && texts?.contains("before") == true)
    }

    @Test func aStoreThatCannotOpenRollsBackTheStart() async throws {
        let dir = try temporaryDirectory()
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        let system = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .expectingFailures)
            .load(text: Self.system(path: dir + "/file/s.sqlite"))
        let map = SystemMap(system, logger: .expectingFailures)
        let failure = await #expect(throws: StartFailure.self) { try await map.start() }
        #expect(failure?.component == "archive")
        let cause = try #require(failure?.error as? StoreFailure)
        #expect(cause.reason == .unwritable && cause.location.hasSuffix(dir + "/file/s.sqlite"))
        #expect(failure?.rolledBack.contains("fanout") == true)
        for name in await map.names { #expect(await map.state(of: name) != .running, "\(name)") }
    }

    @Test func reloadUpdatesRetentionInPlaceAndAddsAStore() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(Self.system(path: path, store: false))
        defer { Task { await h.stop() } }
        #expect(try await publish(h, "unstored").body["status"] == "accepted")
        // Adding the store (and the slots that use it).
        let added = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests).load(text: Self.system(path: path), wiring: h.map.sharedWiring)
        #expect(await h.map.reload(to: added).ok)
        #expect(try await publish(h, "stored").body["status"] == "stored")
        let store = try await h.component("archive", as: StoreComponent.self)
        // Retention changes in place: the same instance, pruning by the new rule.
        let tighter = try SystemLoader(registry: WebHarness.registry, environment: [:], logger: .tests)
            .load(text: Self.system(path: path, retention: #"{"maxMessages": 1}"#), wiring: h.map.sharedWiring)
        let outcome = await h.map.reload(to: tighter)
        #expect(outcome.ok)
        #expect(outcome.plan.entries.first { $0.name == "archive" }?.action == .update)
        #expect(try await h.component("archive", as: StoreComponent.self) === store)
        #expect(try await publish(h, "second").status == 202)
        #expect(await store.prune() == 1)
    }
}
