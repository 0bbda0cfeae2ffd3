import AsyncHTTPClient
import Foundation
import NIOCore
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import Testing

/// Ids that come from a client — a history cursor, `Last-Event-ID`, a WebSocket resume — are
/// checked: past the largest id a store holds (2^63−1) is a 400 naming the parameter, never a
/// trap in the store's integer conversion.
@Suite struct ResumeCursorTests {
    static let beyond = ["18446744073709551615", "9223372036854775808", "-1", "0", "12abc"]

    @Test func theLargestIDIsTheStoresAndEveryTextBeyondItIsRefused() {
        #expect(MessageID("9223372036854775807") == MessageID.greatest)
        for text in Self.beyond { #expect(MessageID(text) == nil, "\(text)") }
        #expect(MessageID(stored: Int64(-5)) == nil)
        #expect(MessageID(stored: 0) == nil)
        #expect(MessageID(rawValue: .max).storedValue == Int64.max)
    }

    @Test func historySSEAndWebSocketAnswer400NamingTheCursor() async throws {
        let path = try temporaryDirectory() + "/s.sqlite"
        let h = try await WebHarness.start(StoreWebTests.system(path: path))
        defer { Task { await h.stop() } }
        let id = try #require(try await h.postJSON("/messages", #"{"from": "ann", "text": "kept"}"#).body["id"]?.stringValue)
        for text in Self.beyond {
            for parameter in ["before", "after"] {
                let r = try await h.request(.GET, "/history?\(parameter)=\(text)")
                #expect(r.status == 400, "\(parameter)=\(text)")
                #expect(try JSONParser.parse(r.body).value["parameter"]?.stringValue == parameter)
            }
            let sse = try await h.request(.GET, "/events", headers: [("Last-Event-ID", text)])
            #expect(sse.status == 400 && sse.body.contains("Last-Event-ID"), "Last-Event-ID: \(text)")
            let query = try await h.request(.GET, "/events?lastEventId=\(text)")
            #expect(query.status == 400 && query.body.contains("lastEventId"), "?lastEventId=\(text)")
        }
        // The server still answers, and the largest id is a cursor like any other.
        let page = try await h.request(.GET, "/history?before=9223372036854775807")
        #expect(page.status == 200 && page.body.contains(id))

        let handshake = try await h.url("/ws?lastEventId=18446744073709551615").replacingOccurrences(of: "http://", with: "ws://")
        await #expect(throws: (any Error).self) { try await FrameLog.exchange(handshake) { _ in true } }

        let url = try await h.url("/ws?name=bob").replacingOccurrences(of: "http://", with: "ws://")
        let frames = try await FrameLog.exchange(url, sending: [#"{"resume": "18446744073709551615"}"#, #"{"resume": "\#(id)"}"#]) {
            $0["type"] == "resumed"
        }
        #expect(frames.first?["type"] == "error" && frames.first?["parameter"] == "resume")
        #expect(frames.last?["type"] == "resumed")
    }

    @Test func theReleasedRootSystemSurvivesCursorsPastTheLargestID() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = try temporaryDirectory()
        try rootSystemOnPortZero(root).write(toFile: dir + "/system.json", atomically: true, encoding: .utf8)
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { p.terminate() }
        let base = try #require(await p.listeningURL())
        #expect(await p.waitFor(#"system "chat" running"#))
        for query in ["before=18446744073709551615", "after=9223372036854775808"] {
            let res = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/history?" + query), timeout: .seconds(10))
            #expect(res.status.code == 400, "\(query)")
        }
        var sse = HTTPClientRequest(url: base + "/events")
        sse.headers.add(name: "Last-Event-ID", value: "18446744073709551615")
        #expect(try await HTTPClient.shared.execute(sse, timeout: .seconds(10)).status.code == 400)
        let ok = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/history"), timeout: .seconds(10))
        #expect(ok.status.code == 200)
    }
}
