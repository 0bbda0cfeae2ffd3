import Foundation
import Switchboard
import SwitchboardChannels
import SwitchboardConsole
import SwitchboardTesting
import Synchronization
import Testing

/// Every command and every error, through the real socket and protocol.
@Suite struct ProtocolTests {
    func with(_ body: (ConsoleHarness) async throws -> Void) async throws {
        let h = try await ConsoleHarness.start()
        do { try await body(h) } catch { await h.stop(); throw error }
        await h.stop()
    }

    @Test func framesAreLengthPrefixedAndSurviveAnySplit() throws {
        let frames = [Frame.reply(ok: true, command: "x", text: String(repeating: "é\n", count: 5000)), .event(text: "a", data: [1, 2])]
        let bytes = frames.flatMap(\.encoded)
        var decoder = FrameDecoder()
        var got: [Frame] = []
        for chunk in stride(from: 0, to: bytes.count, by: 7).map({ bytes[$0..<min($0 + 7, bytes.count)] }) {
            decoder.feed(chunk)
            while let f = try decoder.next() { got.append(f) }
        }
        #expect(got == frames)
        var bad = FrameDecoder()
        bad.feed(Array("nonsense here\n".utf8))
        #expect(throws: FrameDecoder.Malformed.self) { try bad.next() }
        // A length that would overflow (or make the server buffer without end) is refused.
        for length in ["9223372036854775807", "9223372036854775800", String(FrameDecoder.maxFrameLength + 1)] {
            var huge = FrameDecoder()
            huge.feed(Array("reply \(length)\n{}".utf8))
            #expect(throws: FrameDecoder.Malformed.self) { try huge.next() }
        }
    }

    @Test func theSocketIsPrivateAndGreets() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let attrs = try FileManager.default.attributesOfItem(atPath: h.server.socketPath)
            #expect((attrs[.posixPermissions] as? Int) == 0o600)
            let dirAttrs = try FileManager.default.attributesOfItem(atPath: h.dir + "/admin")
            #expect((dirAttrs[.posixPermissions] as? Int) == 0o700)
            let path = h.server.socketPath
            let hello = try await ConsoleHarness.offPool { try AdminClient(path: path).hello }
            #expect(hello["system"] == "demo")
            #expect(hello["state"] == "running")
        }
    }

    @Test func figuresReadAsPeopleSayThem() {
        #expect(HumanView.duration(102.11571850600001) == "1m42s")
        #expect(HumanView.duration(0.000027) == "27µs")
        #expect(HumanView.duration(0.35) == "350ms")
        #expect(HumanView.duration(2.497565615) == "2.5s")
        #expect(HumanView.duration(200_000) == "2d7h")
        #expect(HumanView.size(262_144) == "256 KiB")
        #expect(HumanView.size(81_489) == "79.6 KiB")
        #expect(HumanView.size(512) == "512 B")
        let view = HumanView.render(["uptimeSeconds": .double(102.1), "taps": .array([["name": "a", "delivered": 3], ["name": "b", "delivered": 10]])])
        #expect(view == "uptimeSeconds  1m42s\ntaps\n  NAME  DELIVERED\n  a     3\n  b     10")
        // A store's size on disk reads as a size too (it showed 197456).
        #expect(HumanView.render(["bytesOnDisk": 197_456, "historyBytes": 1024]) == "bytesOnDisk   192.8 KiB\nhistoryBytes  1 KiB")
    }

    @Test func helpListsAndExplains() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let all = try await h.command("help")
            #expect(all["ok"] == true)
            #expect(all["text"]?.stringValue?.contains("put!") == true)
            let one = try await h.command("help tail")
            #expect(one["text"]?.stringValue?.hasPrefix("tail <channel|mult|pub> [-n N]") == true)
            let typo = try await h.command("help tial")
            #expect(typo["ok"] == false)
            #expect(typo["text"]?.stringValue?.contains("did you mean \"tail\"") == true)
        }
    }

    @Test func unknownCommandsSuggestTheClosest() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let r = try await h.command("stauts")
            #expect(r["ok"] == false)
            #expect(r["reason"] == "unknownCommand")
            #expect(r["text"]?.stringValue?.contains("did you mean \"status\"") == true)
        }
    }

    @Test func statusAndInspectShowStatesAndFigures() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let status = try await h.command("status")
            let rows = try #require(status["data"]?.arrayValue)
            #expect(rows.count == 5)
            #expect(rows.allSatisfy { $0["state"] == "running" })
            #expect(status["text"]?.stringValue?.contains("fill 0/2") == true)
            // A mult's consumers are its listeners and its taps (once shown as "taps 0").
            #expect(status["text"]?.stringValue?.contains("consumers 1 (1 listener, 0 taps)") == true)
            let inspect = try await h.command("inspect fanout")
            #expect(inspect["data"]?["figures"]?["listeners"] == 1)
            // For people: aligned and rounded, no JSON; --json for machines.
            let text = try #require(inspect["text"]?.stringValue)
            #expect(text.hasPrefix("fanout (mult): running for "))
            #expect(text.contains("  used by  events"))
            #expect(text.split(separator: "\n").contains { $0.hasPrefix("  tapDefaults  ") && $0.hasSuffix(" policy dropOldest, capacity 256") }, "\(text)")
            #expect(!text.contains("{") && !text.contains("uptimeSeconds"))
            let json = try await h.command("inspect fanout --json")
            #expect(json["text"]?.stringValue?.hasPrefix("{") == true)
            #expect(json["data"]?["figures"] == inspect["data"]?["figures"])
            let missing = try await h.command("inspect fanot")
            #expect(missing["reason"] == "unknownComponent")
            #expect(missing["text"]?.stringValue?.contains("did you mean \"fanout\"") == true)
            #expect(missing["text"]?.stringValue?.contains("components: inbox, fanout, side, http, events") == true)
            let usage = try await h.command("inspect")
            #expect(usage["reason"] == "usage")
            #expect(usage["text"] == "usage: inspect <component> [--json]")
        }
    }

    @Test func graphConfigAndLog() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let graph = try await h.command("graph --format mermaid")
            #expect(graph["text"]?.stringValue?.hasPrefix("graph LR") == true)
            let bad = try await h.command("graph --format svg")
            #expect(bad["reason"] == "usage")
            let config = try await h.command("config inbox")
            #expect(config["data"]?["buffer"] == 2)
            let log = try await h.command("log -n 2")
            #expect(log["data"]?.arrayValue?.count == 2)
            #expect(try await h.command("log -n zero")["reason"] == "usage")
        }
    }

    @Test func startStopAndRestartCascade() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let stop = try await h.command("stop inbox")
            #expect(stop["ok"] == true)
            #expect(stop["state"] == "partial")
            #expect(await h.map.state(of: "events") == .stopped)
            let start = try await h.command("start inbox")
            #expect(start["ok"] == true)
            #expect(await h.map.state(of: "events") == .running)
            #expect(try await h.command("restart fanout")["ok"] == true)
            #expect(try await h.command("stop")["state"] == "stopped")
            // The console survives a stopped system and can start it again.
            #expect(try await h.command("start")["state"] == "running")
            #expect(try await h.command("start nothing")["reason"] == "unknownComponent")
        }
    }

    @Test func putAnswersAcceptedDroppedOrWouldBlock() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let tap = try #require(await h.map.instance(named: "side") as? ChannelComponent)
            let accepted = try await h.command("put! side hello :)")
            #expect(accepted["data"]?["outcome"] == "accepted")
            let id = try #require(accepted["data"]?["id"]?.stringValue)
            let m = try #require(try tap.currentChan().poll())
            #expect(m.id.description == id)
            #expect(m.from == "console")
            let json = try await h.command(#"put side {"text": "x", "from": "ops", "room": "dev"}"#)
            #expect(json["ok"] == true)
            let jm = try #require(try tap.currentChan().poll())
            #expect((jm.from, jm.room) == ("ops", "dev"))
            for _ in 0..<4 { _ = try await h.command("put! side fill") }
            let blocked = try await h.command("put! side one more --wait 20ms")
            #expect(blocked["ok"] == false)
            #expect(blocked["reason"] == "wouldBlock")
            #expect(try await h.command("put! fanout x")["reason"] == "wrongKind")
            #expect(try await h.command(#"put! side {"txt": "x"}"#)["text"]?.stringValue?.contains("did you mean \"text\"") == true)
            #expect(try await h.command("put! side {bad")["reason"] == "badInput")
            #expect(try await h.command("put!")["reason"] == "usage")
        }
    }

    @Test func putTakesAHeredoc() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let json = try await h.command(["put! side <<EOF", "{", #"  "text": "from a heredoc","#, #"  "from": "doc""#, "}", "EOF"])
            #expect(json.reply["ok"] == true)
            let text = try await h.command(["put! side <<END", "line one", "line two", "END"])
            #expect(text.reply["ok"] == true)
            let tap = try #require(await h.map.instance(named: "side") as? ChannelComponent)
            let first = try #require(try tap.currentChan().poll())
            #expect((first.text, first.from) == ("from a heredoc", "doc"))
            #expect(try tap.currentChan().poll()?.text == "line one\nline two")
        }
    }

    @Test func tailStreamsUntilCancelled() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let path = h.server.socketPath
            let seen = Atomic<Int>(0)
            let result = Task {
                try await ConsoleHarness.offPool { () -> JSONValue in
                    let client = try AdminClient(path: path)
                    return try client.run(["tail fanout"], interrupted: { seen.load(ordering: .relaxed) >= 3 }) { e in
                        if e["data"]?["text"] != nil { seen.add(1, ordering: .relaxed) }
                    } ?? .null
                }
            }
            let fanout = try #require(await h.map.instance(named: "fanout") as? MultComponent)
            while (await fanout.inspect())["tapCount"] != 1 { await Task.yield() }
            for i in 0..<3 { _ = try await h.command("put! inbox message \(i)") }
            let reply = try await result.value
            #expect(reply["ok"] == true)
            #expect(reply["data"]?["shown"] == 3)
            #expect(reply["text"]?.stringValue?.hasPrefix("stopped") == true)
            // The tail's tap is gone.
            while (await fanout.inspect())["tapCount"] != 0 { await Task.yield() }
        }
    }

    @Test func topRatesAreCountsOverTheInterval() {
        typealias Sample = ConsoleSession.TopSample
        let before = [("inbox", Sample(type: "channel", state: "running", counters: ["in": 100, "out": 90], levels: ["lag": 3])),
                      ("side", Sample(type: "channel", state: "running", counters: ["in": 50], levels: [:]))]
        // `side` restarted: its counter went down, so its rate starts again from its new count.
        let now = [("inbox", Sample(type: "channel", state: "running", counters: ["in": 130, "out": 90], levels: ["lag": 5])),
                   ("side", Sample(type: "channel", state: "running", counters: ["in": 4], levels: [:]))]
        let (text, data) = ConsoleSession.topScreen(before: before, now: now, seconds: 2, system: "demo")
        #expect(data["inbox"]?["inPerSecond"]?.doubleValue == 15)
        #expect(data["inbox"]?["outPerSecond"]?.doubleValue == 0)
        #expect(data["inbox"]?["lag"] == 5)
        #expect(data["side"]?["inPerSecond"]?.doubleValue == 2)
        #expect(text.hasPrefix("demo — ") && text.contains("IN/s"))
    }

    @Test func topShowsRatesScreenByScreen() async throws {
        try await with { (h: ConsoleHarness) async throws in
            // Messages put meanwhile; whether they land between two samples depends on the
            // machine's load, so the rate's arithmetic is `topRatesAreCountsOverTheInterval`'s.
            let top = Task { try await h.command(["top -n 2"]) }
            for i in 0..<20 { _ = try await h.command("put! inbox rate \(i)") }
            let (reply, events) = try await top.value
            #expect(reply["ok"] == true)
            #expect(reply["data"]?["screens"] == 2)
            let screens = events.filter { $0["data"]?["inbox"] != nil }
            #expect(screens.count == 2)
            let first = try #require(screens.first)
            #expect(first["text"]?.stringValue?.contains("IN/s") == true)
            #expect(first["data"]?["inbox"]?["type"] == "channel")
            let rates = screens.compactMap { $0["data"]?["inbox"]?["inPerSecond"]?.doubleValue }
            #expect(rates.count == 2 && rates.allSatisfy { $0 >= 0 }, "\(rates)")
            #expect(try await h.command("top -n x")["reason"] == "usage")
        }
    }

    @Test func tailWithACountEndsByItself() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let tail = Task { try await h.command(["tail inbox -n 2"]) }
            let inbox = try #require(await h.map.instance(named: "inbox") as? ChannelComponent)
            while (await inbox.inspect())["tails"] != 1 { await Task.yield() }
            _ = try await h.command(#"put! inbox {"from": "alice", "to": "bob", "text": "psst"}"#)
            _ = try await h.command("put! inbox b :)")
            let (reply, events) = try await tail.value
            #expect(reply["data"]?["shown"] == 2)
            // Operators see everything, private messages too.
            #expect(events[1]["data"]?["to"] == "bob")
            #expect(events[1]["text"]?.stringValue?.contains("alice → bob (private): psst") == true)
            #expect(events.last?["data"]?["text"] == "b 🙂")
            #expect(try await h.command("tail http")["reason"] == "wrongKind")
        }
    }

    @Test func aliasesSourceAndCompletion() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let script = h.dir + "/ops.rc"
            try "# comment\nalias hi = put! side hi there\nhi\nstatus\n".write(toFile: script, atomically: true, encoding: .utf8)
            let path = h.server.socketPath
            let (sourced, aliasWorks, completions, commands) = try await ConsoleHarness.offPool { () -> (JSONValue?, JSONValue?, JSONValue?, JSONValue?) in
                let client = try AdminClient(path: path)
                let s = try client.run(["source " + script]) { _ in }
                let a = try client.run(["hi"]) { _ in }
                let c = try client.run(["complete put! si"]) { _ in }
                let d = try client.run(["complete sta"]) { _ in }
                return (s, a, c, d)
            }
            #expect(sourced?["data"]?["ran"] == 3)
            #expect(aliasWorks?["ok"] == true)
            #expect(completions?["data"] == ["side"])
            #expect(commands?["data"] == ["start", "status"])
            await #expect(throws: (any Error).self) { try await h.command("source /nonexistent") }
            #expect(try await h.command("alias status = help")["reason"] == "usage")
            #expect(try await h.command("complete tail ")["data"] == ["fanout", "inbox", "side"])
            #expect(try await h.command("complete inspect ht")["data"] == ["http"])
            #expect(try await h.command("describe")["data"]?.arrayValue?.count == CommandCatalog(topics: await h.map.consoleTopics).all.count)
        }
    }

    @Test func shutdownNeedsConfirmationAndQuitOnlyDetaches() async throws {
        try await with { (h: ConsoleHarness) async throws in
            #expect(try await h.command("shutdown")["reason"] == "usage")
            #expect(h.shutdowns.value.load(ordering: .relaxed) == 0)
            #expect(try await h.command("quit")["text"] == "bye")
            #expect(await h.map.systemState == .running)
            #expect(try await h.command("shutdown --confirm")["ok"] == true)
            while h.shutdowns.value.load(ordering: .relaxed) == 0 { await Task.yield() }
        }
    }

    @Test func reloadGoesToTheHost() async throws {
        try await with { (h: ConsoleHarness) async throws in
            #expect(try await h.command("reload --dry-run")["text"] == "plan: nothing to do")
            #expect(try await h.command("reload --now")["reason"] == "usage")
        }
    }

    @Test func severalConsolesAtOnceAndGarbageCannotHurt() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let path = h.server.socketPath
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<5 {
                    group.addTask {
                        try await ConsoleHarness.offPool {
                            let c = try AdminClient(path: path)
                            let junk = ["\u{0}\u{1}", "'unbalanced", String(repeating: "x", count: 10000), "put! side \(i)", "status"]
                            var ok = true
                            for line in junk { ok = (try c.run([line]) { _ in }) != nil && ok }
                            return ok
                        }
                    }
                }
                for try await ok in group { #expect(ok) }
            }
            #expect(await h.map.systemState == .running)
            #expect(try await h.command("status")["ok"] == true)
        }
    }

    @Test func anIdleConsoleIsDetached() async throws {
        let h = try await ConsoleHarness.start(idleTimeout: .milliseconds(100))
        let path = h.server.socketPath
        let ended = try await ConsoleHarness.offPool { () -> String? in
            let c = try AdminClient(path: path)
            var last: String?
            while let f = try c.read() { last = f.payload["text"]?.stringValue }
            return last
        }
        #expect(ended?.contains("idle") == true)
        await h.stop()
    }

    @Test func aStaleSocketIsReplacedAndALiveOneRefused() async throws {
        let h = try await ConsoleHarness.start()
        var config = AdminConfig(nil)
        config.socketPath = h.server.socketPath
        let second = AdminServer(config: config, host: AdminHost(map: h.map, logger: .expectingFailures, shutdown: {}))
        await #expect(throws: AdminServer.AlreadyRunning.self) { try await second.start() }
        await h.stop()
        #expect(!FileManager.default.fileExists(atPath: config.socketPath))
        // A socket left behind by a crash (bound, never unlinked): replaced.
        try leaveStaleSocket(at: config.socketPath)
        try await second.start()
        let path = config.socketPath
        let system = try await ConsoleHarness.offPool { try AdminClient(path: path).hello["system"] }
        #expect(system == "demo")
        await second.stop()
    }

    @Test func webhookDeadLettersAreListedAndRedelivered() async throws {
        let json = #"""
            {"name": "demo", "components": {
              "inbox": {"type": "channel", "buffer": 8},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "out": {"type": "webhook-out", "using": {"source": "fanout"},
                      "targets": [{"name": "nowhere", "url": "http://127.0.0.1:9/hook"}], "retry": {"schedule": ["1ms"]}}
            }}
            """#
        let h = try await ConsoleHarness.start(json)
        let put = try await h.command("put! inbox for the void")
        let id = try #require(put["data"]?["id"]?.stringValue)
        var dead: JSONValue = .null
        while dead["data"]?["out"]?.arrayValue?.isEmpty ?? true {
            dead = try await h.command("webhooks dead")
            await Task.yield()
        }
        #expect(dead["text"]?.stringValue?.contains(id) == true)
        #expect(dead["text"]?.stringValue?.contains("nowhere after 2 attempt(s)") == true)
        let again = try await h.command("webhooks redeliver \(id) out")
        #expect(again["data"]?["out"]?["requeued"] == 1)
        #expect(try await h.command("webhooks redeliver nope")["ok"] == false)
        #expect(try await h.command("webhooks")["reason"] == "usage")
        // The command comes with the component type: help lists it, Tab completes it.
        #expect(try await h.command("help")["text"]?.stringValue?.contains("webhooks") == true)
        #expect(try await h.command("help webhooks")["text"]?.stringValue?.hasPrefix("webhooks dead [component]") == true)
        #expect(try await h.command("complete webhooks ")["data"] == ["dead", "redeliver"])
        await h.stop()
    }

    /// A system without webhook-out has no `webhooks` command at all.
    @Test func aTypesCommandIsOnlyThereWithTheType() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let reply = try await h.command("webhooks dead")
            #expect(reply["reason"] == "unknownCommand")
            #expect(try await h.command("help")["text"]?.stringValue?.contains("webhooks") == false)
        }
    }

    @Test func sourceIsReadOnTheConsolesSideNeverByTheServer() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let secret = h.dir + "/secret.txt"
            try "status\nthe server must not read this\n".write(toFile: secret, atomically: true, encoding: .utf8)
            let path = h.server.socketPath
            // A console that sends a bare `source FILE` (no lines) gets a refusal; the server
            // never opens the file or echoes its lines.
            let (reply, events) = try await ConsoleHarness.offPool { () -> (JSONValue?, [JSONValue]) in
                let client = try AdminClient(path: path)
                try client.send(["source " + secret])
                var events: [JSONValue] = []
                while let f = try client.read() {
                    if f.kind == .reply { return (f.payload, events) }
                    events.append(f.payload)
                }
                return (nil, events)
            }
            #expect(reply?["reason"] == "badInput")
            #expect(events.isEmpty)
            #expect(reply?.jsonText.contains("must not read") == false)
            // The client attaches the file's lines, nested sources included.
            let outer = h.dir + "/outer.rc"
            try "source inner.rc\nstatus\n".write(toFile: outer, atomically: true, encoding: .utf8)
            try "put! side from the inner file\n".write(toFile: h.dir + "/inner.rc", atomically: true, encoding: .utf8)
            let ran = try await h.command("source " + outer)
            #expect(ran["data"]?["ran"] == 2)
            let side = try #require(await h.map.instance(named: "side") as? ChannelComponent)
            #expect(await side.inspect()["count"] == 1)
        }
    }

    @Test func aSocketPathThatIsNotASocketIsLeftAlone() async throws {
        let h = try await ConsoleHarness.start()
        let dir = try temporaryDirectory()
        let data = dir + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        try "keep".write(toFile: data + "/precious.txt", atomically: true, encoding: .utf8)
        try "keep".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: data)
        for name in ["data", "file", "link"] {
            var config = AdminConfig(nil)
            config.socketPath = dir + "/" + name
            let server = AdminServer(config: config, host: AdminHost(map: h.map, logger: .expectingFailures, shutdown: {}))
            await #expect(throws: AdminServer.UnsafePath.self) { try await server.start() }
        }
        #expect(FileManager.default.fileExists(atPath: data + "/precious.txt"))
        #expect(FileManager.default.fileExists(atPath: dir + "/file"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/link")) == data)
        await h.stop()
    }

    @Test func anExistingDirectoryKeepsItsModeAndAnUnsafeOneIsRefused() async throws {
        let h = try await ConsoleHarness.start()
        let dir = try temporaryDirectory()
        let shared = dir + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        chmod(shared, 0o1777)  // like /tmp
        var config = AdminConfig(nil)
        config.socketPath = shared + "/admin.sock"
        let server = AdminServer(config: config, host: AdminHost(map: h.map, logger: .expectingFailures, shutdown: {}))
        try await server.start()
        #expect((try FileManager.default.attributesOfItem(atPath: shared)[.posixPermissions] as? Int) == 0o1777)
        await server.stop()
        #expect(!FileManager.default.fileExists(atPath: config.socketPath))
        chmod(shared, 0o777)  // writable by anyone, no sticky bit: anyone could swap the socket
        await #expect(throws: AdminServer.UnsafePath.self) { try await server.start() }
        #expect((try FileManager.default.attributesOfItem(atPath: shared)[.posixPermissions] as? Int) == 0o777)
        await h.stop()
    }
    /// A second user listed in `allowUids` attaches; a user not listed reaches the socket
    /// but is refused by the uid check. Needs the `switchboard-peer` user `dev/test.sh` adds.
    @Test func allowUidsLetsARealSecondUserAttach() async throws {
        let peer = try #require(getpwnam("switchboard-peer"), "dev/test.sh adds the user switchboard-peer").pointee.pw_uid
        let h = try await ConsoleHarness.start()
        let dir = try temporaryDirectory()
        chmod(dir, 0o755)
        var config = AdminConfig(nil)
        config.socketPath = dir + "/admin/admin.sock"
        config.allowedUIDs = [peer]
        let server = AdminServer(config: config, host: AdminHost(map: h.map, logger: .expectingFailures, shutdown: {}))
        try await server.start()
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/admin")[.posixPermissions] as? Int) == 0o711)
        let socketPath = config.socketPath
        let greeting = { (user: String) async throws -> String in
            try await ConsoleHarness.offPool {
                try runAs(user, ["python3", "-c", """
                    import socket, sys
                    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
                    data = b""
                    while b"\\n" not in data: data += s.recv(4096)
                    head = data.split(b"\\n")[0].split()
                    while len(data) < len(head[0]) + len(head[1]) + 2 + int(head[1]): data += s.recv(4096)
                    print(data.decode())
                    """, socketPath])
            }
        }
        let allowed = try await greeting("switchboard-peer")
        #expect(allowed.hasPrefix("hello"), "\(allowed)")
        let refused = try await greeting("nobody")
        #expect(refused.hasPrefix("reply") && refused.contains("forbidden"), "\(refused)")
        await server.stop()
        await h.stop()
    }
    /// Every command with hostile arguments: a reply every time (the server never traps), and
    /// every refusal says why (a reason and a text; usage problems show the usage line).
    @Test func everyCommandSurvivesExtremeArguments() async throws {
        try await with { (h: ConsoleHarness) async throws in
            let hostile = ["1e300", "-1", "99999999999999999999999", "'", "\"open", "\\", "<<", "--wait 1e300s", "-n 99999999999999999999",
                           "-n -5", "-n 0", "--format", String(repeating: "x", count: 10_000), "ünï 🙂", "{\"text\": 1e999}"]
            var lines: [String] = []
            for spec in CommandCatalog(topics: await h.map.consoleTopics).all where !["quit", "shutdown", "tail", "source"].contains(spec.name) {
                for arg in hostile { lines.append("\(spec.name) \(arg)") }
            }
            lines += ["put! inbox hi --wait 1e300s", "put! inbox hi --wait 9999999999999h", "put! inbox hi --wait -1s",
                      "put! inbox hi --wait nan", "tail inbox -n 99999999999999999999", "tail inbox -n -1", "log -n 99999999999999999999",
                      "shutdown 1e300", "quit 1e300"]
            for line in lines {
                let reply = try await h.command(line)
                #expect(reply["ok"] != nil, "no reply to \(line)")
                if reply["ok"] != true {
                    #expect(reply["reason"]?.stringValue?.isEmpty == false, "\(line): \(reply)")
                    #expect(reply["text"]?.stringValue?.isEmpty == false, "\(line): \(reply)")
                    if reply["reason"] == "usage" { #expect(reply["text"]?.stringValue?.contains("usage") == true, "\(line)") }
                }
            }
            #expect(h.shutdowns.value.load(ordering: .relaxed) == 0)
            #expect(await h.map.systemState == .running)
        }
    }
}

/// Runs `command` as `user` (with runuser) and returns what it printed.
func runAs(_ user: String, _ command: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
    p.arguments = ["-u", user, "--"] + command
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// Binds a Unix socket at `path` and closes it without unlinking: what a crashed server leaves.
func leaveStaleSocket(at path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let bytes = Array(path.utf8)
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    #expect(rc == 0)
}
