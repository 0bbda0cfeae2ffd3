import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import Testing

/// The store through the real binary running the root `system.json` (port 0, its SQLite file
/// under the temp dir's `data/`), where a process restart is the point.
@Suite struct StoreLiveTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The root system in a fresh directory, on port 0.
    static func rootSystem() throws -> String {
        let dir = try temporaryDirectory()
        let system = try rootSystemOnPortZero(root)
        try system.write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        return dir
    }

    /// Runs the binary in `dir` until it listens; returns it and its base URL.
    static func run(_ dir: String) async throws -> (LiveProcess, String) {
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        // The server listens before the endpoints have mounted their routes: wait for all.
        guard let url = await p.listeningURL(), await p.waitFor(#"system "chat" running"#) else {
            p.terminate()
            throw Failed(text: "the server did not start: \(p.text)")
        }
        return (p, String(url))
    }

    struct Failed: Error, CustomStringConvertible { let text: String; var description: String { text } }

    static func post(_ base: String, _ text: String) async throws -> (Int, String?) {
        var req = HTTPClientRequest(url: base + "/messages")
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/json")
        req.body = .bytes(ByteBuffer(string: #"{"from": "ann", "text": "\#(text)"}"#))
        let res = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let body = try JSONParser.parse(String(buffer: try await res.body.collect(upTo: 1 << 20))).value
        return (Int(res.status.code), body["id"]?.stringValue)
    }

    /// Every stored id, oldest first, paging through /history with `after`.
    static func storedIDs(_ base: String) async throws -> [String] {
        var ids: [String] = []
        var after = "1"
        while true {
            let res = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/history?limit=500&after=\(after)"), timeout: .seconds(30))
            let page = try JSONParser.parse(String(buffer: try await res.body.collect(upTo: 10 << 20))).value
            ids += page["messages"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            guard let next = page["next"]?.stringValue else { return ids }
            after = next
        }
    }

    /// The binary runs Swift concurrency on NIO's event loops, where the fan-out writes its own
    /// loop's subscribers at once: live events reach several subscribers complete, in order,
    /// once each (the in-process tests run on Swift's own pool).
    @Test func theBinaryDeliversLiveEventsInOrderToEverySubscriber() async throws {
        let (p, base) = try await Self.run(try Self.rootSystem())
        defer { p.terminate() }
        var readers: [SSEReader] = []
        for _ in 0..<4 { readers.append(try await SSEReader(base + "/events")) }
        var sent: [String] = []
        for k in 0..<200 {
            let (status, id) = try await Self.post(base, "m\(k)")
            #expect(status == 202)
            sent.append(try #require(id))
        }
        for r in readers {
            var got: [String] = []
            while got.count < sent.count, let e = try await r.next() {
                if let id = e.id, e.event == "message" { got.append(id) }
            }
            #expect(got == sent)
        }
    }

    @Test func clientsResumeAcrossARestartOfTheProcess() async throws {
        let dir = try Self.rootSystem()
        var (p, base) = try await Self.run(dir)
        var ids: [String] = []
        for i in 0..<200 {
            let (status, id) = try await Self.post(base, "m\(i)")
            #expect(status == 202)
            ids.append(try #require(id))
        }
        p.signal(SIGTERM)
        #expect(await p.waitForExit() == 0)

        (p, base) = try await Self.run(dir)
        defer { p.terminate() }
        let sse = try await SSEReader(base + "/events", headers: [("Last-Event-ID", ids[49])])
        #expect(sse.status == 200)
        var got: [String] = []
        while got.count < 150, let e = try await sse.next() {
            #expect(e.event == "message")
            got.append(e.id ?? "")
        }
        #expect(got == Array(ids[50...]))
        let (_, live) = try await Self.post(base, "live")
        #expect(try await sse.next()?.id == live)
        #expect(MessageID(try #require(live))! > MessageID(ids.last!)!)

        let url = base.replacingOccurrences(of: "http://", with: "ws://") + "/ws?name=bob&lastEventId=\(ids[149])"
        let frames = try await FrameLog.exchange(url) { $0["type"] == "resumed" || $0["type"] == "error" }
        #expect(frames.last?["type"] == "resumed")
        #expect(frames.filter { $0["type"] == "message" }.compactMap { $0["id"]?.stringValue } == Array(ids[150...]) + [live!])
    }

    @Test func everyStoredAckSurvivesKill9() async throws {
        let dir = try Self.rootSystem()
        var (p, base) = try await Self.run(dir)
        let acked = AckLog(signalAt: 300)
        let target = base
        // Four publishers; the process is killed while they run.
        let publishers = (0..<4).map { n in
            Task {
                for i in 0..<100_000 {
                    guard let (status, id) = try? await Self.post(target, "p\(n)-\(i)") else { return }
                    if status == 202, let id { acked.add(id) }
                }
            }
        }
        try await acked.reached.wait()
        kill(p.pid, SIGKILL)
        _ = await p.waitForExit()
        for t in publishers { _ = await t.value }
        let before = acked.all

        (p, base) = try await Self.run(dir)
        defer { p.terminate() }
        let stored = Set(try await Self.storedIDs(base))
        let missing = before.filter { !stored.contains($0) }
        #expect(missing.isEmpty, "acked but not stored: \(missing.prefix(5))")
        let (_, next) = try await Self.post(base, "after the kill")
        #expect(MessageID(try #require(next))! > before.compactMap { MessageID($0) }.max()!)
    }
}

/// The ids a publisher got a 202 for; `reached` resolves at the `signalAt`-th.
final class AckLog: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    private let signalAt: Int
    let reached = Latch<Void>()

    init(signalAt: Int) { self.signalAt = signalAt }

    func add(_ id: String) {
        lock.lock()
        ids.append(id)
        let n = ids.count
        lock.unlock()
        if n == signalAt { reached.resolve(.success(())) }
    }

    var all: [String] { lock.lock(); defer { lock.unlock() }; return ids }
}
