import Foundation
import Switchboard
import SwitchboardChannels
@testable import SwitchboardStore
import SwitchboardTesting
import Testing

/// The bus carries committed rows in its NOTIFY payloads: an instance reads the log only to
/// catch up (at LISTEN's start, after a gap in `seq`, for a row too large to announce).
@Suite(.timeLimit(.minutes(3))) struct BusAnnounceTests {
    /// One instance whose poll never comes during the test, so every read of the log is one
    /// the NOTIFYs asked for.
    static func quietInstance(url: String, bus: String) -> String {
        // A commit may wait past the cluster tests' 2 s in a loaded full run (it did once):
        // this test counts reads of the log, not timeouts.
        ClusterTests.system(url: url, bus: bus, instance: "node-1", commitTimeout: "30s")
            .replacingOccurrences(of: #""pollInterval": "200ms""#, with: #""pollInterval": "1h""#)
    }

    static func figures(_ node: WebHarness) async throws -> (announced: Int, catchUps: Int, read: Int) {
        let f = try await node.map.inspect("bus")["figures"]
        return (f?["announced"]?.intValue ?? -1, f?["catchUps"]?.intValue ?? -1, f?["read"]?.intValue ?? -1)
    }

    @Test func committedRowsArriveInTheNotifyAndTheLogIsReadOnlyForAGapOrARowTooLarge() async throws {
        let url = try await PublishFunctionTests.freshDatabase()
        let node = try await WebHarness.start(Self.quietInstance(url: url, bus: "bus_chat"))
        defer { Task { await node.stop() } }
        let reader = try await SSEReader(try await node.url("/events"))
        // LISTEN's start reads the log once; wait for it. That read may be under way still
        // when the first message commits, and take it in: so one message goes through first,
        // and the figures count from there (the reader does one thing at a time, so once it
        // has emitted that message its first read is over).
        await waitUntil("LISTEN connected") { (try? await Self.figures(node).catchUps) == 1 }
        #expect(try await node.postJSON("/messages", #"{"text": "first"}"#).status == 202)
        #expect(PublishFunctionTests.texts(try await ClusterTests.read(1, from: reader)) == ["first"])
        let start = try await Self.figures(node)

        for k in 0..<20 {
            let r = try await node.postJSON("/messages", #"{"text": "m\#(k)"}"#)
            #expect(r.status == 202, "\(r.body)")
        }
        #expect(PublishFunctionTests.texts(try await ClusterTests.read(20, from: reader)) == (0..<20).map { "m\($0)" })
        var f = try await Self.figures(node)
        #expect(f.announced - start.announced == 20 && f.catchUps == 1, "\(f) from \(start)")

        // A rolled-back publish leaves a hole in seq: the next row is a gap, read from the log.
        let rolledBack = try await PublishFunctionTests.psql(url, #"BEGIN; SELECT switchboard_publish('', '{"text": "never"}'); ROLLBACK;"#)
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        // Each is read by the subscriber before the next is published, so that one read of the
        // log cannot take in the next row too.
        #expect(try await node.postJSON("/messages", #"{"text": "after the hole"}"#).status == 202)
        #expect(PublishFunctionTests.texts(try await ClusterTests.read(1, from: reader)) == ["after the hole"])
        // A row larger than a NOTIFY takes is announced empty, and read.
        let big = String(repeating: "x", count: 9000)
        #expect(try await node.postJSON("/messages", #"{"text": "\#(big)"}"#).status == 202)
        #expect(PublishFunctionTests.texts(try await ClusterTests.read(1, from: reader)) == [big])
        #expect(try await node.postJSON("/messages", #"{"text": "last"}"#).status == 202)
        #expect(PublishFunctionTests.texts(try await ClusterTests.read(1, from: reader)) == ["last"])
        f = try await Self.figures(node)
        #expect(f.catchUps == 3 && f.announced - start.announced == 21 && f.read - start.read == 23, "\(f) from \(start)")
    }

    @Test func anInstanceThatDoesNotTakeWhatItReadsShowsItsLagInClusterAndInspect() async throws {
        let url = try TestPostgres.url()
        let bus = TestPostgres.uniqueName("bus")
        let system = { (name: String) in
            ClusterTests.system(url: url, bus: bus, instance: name, commitTimeout: "30s").replacingOccurrences(of: #""heartbeat": "1s""#, with: #""heartbeat": "100ms", "capacity": 4"#)
        }
        let (one, two) = (try await WebHarness.start(system("node-1")), try await WebHarness.start(system("node-2")))
        defer { Task { await one.stop(); await two.stop() } }
        // node-2's mult stops taking from its bus: the bus holds 4, its reader waits at the 5th.
        _ = try await two.map.stop("fanout")
        for k in 0..<30 { #expect(try await one.postJSON("/messages", #"{"text": "m\#(k)"}"#).status == 202) }
        let console = try await one.component("bus", as: BusComponent.self)
        var lags: [String: Int] = [:]
        try await waitUntil("node-2 lagging by what it did not take, node-1 not") {
            let (_, data) = try await console.console([])
            lags = Dictionary(data["instances"]?.arrayValue?.compactMap { i in i["name"]?.stringValue.map { ($0, i["lag"]?.intValue ?? -1) } } ?? [], uniquingKeysWith: { $1 })
            return lags["node-1"] == 0 && (lags["node-2"] ?? 0) >= 25
        }
        #expect(lags["node-1"] == 0 && (lags["node-2"] ?? 0) >= 25, "\(lags)")
        // The table has the column and node-2's figure. (Waited for too: an instance is listed
        // while its beats are recent, and in a loaded run a late beat left the table empty for
        // a moment. node-1's figure is not asserted again: the wait above can be met by beats
        // written before the last row was committed, and node-1's next beat once caught its
        // reader a row behind — "1 rows", with the log holding seq 1…30 and node-1 at 30 when
        // it stopped.)
        var text = ""
        try await waitUntil("node-2's lag in the table") {
            text = try await console.console([]).text
            return text.contains("LAG") && text.split(separator: "\n").contains { $0.contains("node-2") && $0.contains(" rows") }
        }
        #expect(text.contains("LAG"), "\(text)")
        #expect((try await two.map.inspect("bus")["figures"]?["lag"]?.intValue ?? 0) >= 25)
    }

    @Test func aPayloadThatIsNotRowsIsRefusedWhole() {
        let good = #"[[7,1700000000000001,1700000000000000,"lobby","ann",null,"hi",{"n":1},[{"type":"code","start":0,"end":2}]]]"#
        let rows = BusLog.rows(announced: good[...])
        #expect(rows?.count == 1)
        #expect(rows?.first?.seq == 7)
        #expect(rows?.first?.message.id.rawValue == 1_700_000_000_000_001)
        #expect(rows?.first?.message.room == "lobby")
        #expect(rows?.first?.message.data == ["n": 1])
        for bad in ["", "[", "{}", "[1]", "[[7]]", #"[[7,0,1,null,"a",null,"t",null,null]]"#, #"[[7,1,1,null,5,null,"t",null,null]]"#,
                    #"[[7,1,1,null,"a",null,"t",null,null],[8]]"#, #"[[7,99999999999999999999,1,null,"a",null,"t",null,null]]"#] {
            #expect(BusLog.rows(announced: bad[...]) == nil, "\(bad)")
        }
    }
}
