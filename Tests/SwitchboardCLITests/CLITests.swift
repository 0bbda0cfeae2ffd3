import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// The real binary, run as a user runs it.
@Suite struct CLITests {
    func write(_ json: String) throws -> (dir: String, file: String) {
        let dir = try temporaryDirectory()
        let file = dir + "/system.json"
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        return (dir, file)
    }

    func run(_ args: [String], in dir: String? = nil) async throws -> (status: Int32?, text: String) {
        let p = try LiveProcess(switchboardBinary(), args, directory: dir)
        let status = await p.waitForExit()
        p.terminate()
        return (status, p.text)
    }

    @Test func checkListsEveryProblemWithItsPathAndExits1() async throws {
        let (_, file) = try write(#"""
            {"components": {
              "a": {"type": "mult", "using": {"source": "b"}},
              "b": {"type": "mult", "using": {"source": "a"}},
              "c": {"type": "chanel"},
              "d": {"type": "mult", "using": {"source": "ghost"}}
            }}
            """#)
        let (status, text) = try await run(["check", file])
        #expect(status == 1)
        #expect(text.contains("components.a.using: dependency cycle: a → b → a"))
        #expect(text.contains(#"components.c.type: unknown component type "chanel" (did you mean "channel"?)"#))
        #expect(text.contains(#"components.d.using.source: no component named "ghost""#))
    }

    @Test func checkOfTheClusterSystemNamesAMissingDatabaseURL() async throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("dev/systems/cluster.json").path
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = nil
        let missing = try LiveProcess(switchboardBinary(), ["check", file], environment: env)
        #expect(await missing.waitForExit() == 1)
        #expect(missing.text.contains("components.db.url: environment variable DATABASE_URL is not set"))
        env["DATABASE_URL"] = "postgres://u:secret@db.example:5432/chat"
        let given = try LiveProcess(switchboardBinary(), ["check", file], environment: env)
        #expect(await given.waitForExit() == 0)
        #expect(given.text.contains("bus (bus)"))
        #expect(!given.text.contains("secret"))
    }

    @Test func tokenMintsAJWTWithTheSystemsHMACKey() async throws {
        let (_, file) = try write(#"""
            {"components": {"auth": {"type": "auth", "issuer": "dev", "keys": [{"alg": "HS256", "secret": "0123456789abcdef0123456789abcdef"}]}}}
            """#)
        let (status, text) = try await run(["token", "--sub", "alice", "--rooms", "lobby, dev-*", "--ttl", "1h", file])
        #expect(status == 0)
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".")
        #expect(parts.count == 3)
        var payload = parts.count == 3 ? String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") : ""
        while payload.count % 4 != 0 { payload += "=" }
        let claims = try JSONParser.parse(Array(Data(base64Encoded: payload) ?? Data())).value
        #expect(claims["sub"] == "alice")
        #expect(claims["iss"] == "dev")
        #expect(claims["rooms"] == ["lobby", "dev-*"])
        let exp = try #require(claims["exp"]?.doubleValue)
        #expect(abs(exp - Date().addingTimeInterval(3600).timeIntervalSince1970) < 60)

        let (_, bare) = try write(#"{"components": {"inbox": {"type": "channel"}}}"#)
        let none = try await run(["token", "--sub", "alice", bare])
        #expect(none.status != 0)
        #expect(none.text.contains("has no auth component"))
        #expect(!none.text.contains("Usage:"), "the error alone, not the usage after it: \(none.text)")
    }

    @Test func checkPrintsTheStartOrder() async throws {
        let (_, file) = try write(#"""
            {"name": "demo", "components": {
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "inbox": {"type": "channel"},
              "other": {"type": "channel"}
            }}
            """#)
        let (status, text) = try await run(["check", file])
        #expect(status == 0)
        #expect(text.contains("1. inbox (channel), other (channel)"))
        #expect(text.contains("2. fanout (mult)"))
    }

    @Test func graphPrintsDotAndMermaid() async throws {
        let (_, file) = try write(#"{"name": "g", "components": {"i": {"type": "channel"}, "f": {"type": "mult", "using": {"source": "i"}}}}"#)
        let dot = try await run(["graph", file])
        #expect(dot.status == 0)
        #expect(dot.text.contains(#""f" -> "i" [label="source"]"#))
        let mermaid = try await run(["graph", file, "--format", "mermaid"])
        #expect(mermaid.text.contains("n1 -->|source| n0"))
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func runStopsInReverseOrderOnASignalAndExits0(signal: Int32) async throws {
        let (dir, _) = try write(#"""
            {"name": "live", "components": {
              "inbox": {"type": "channel"},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "side": {"type": "channel"}
            }}
            """#)
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor(#"system "live" running"#))
        p.signal(signal)
        let status = await p.waitForExit()
        #expect(status == 0)
        let text = p.text
        let stoppedFanout = try #require(text.range(of: "fanout stopped"))
        let stoppingInbox = try #require(text.range(of: "inbox stopping"))
        #expect(stoppedFanout.upperBound <= stoppingInbox.lowerBound)
        #expect(text.contains("system stopped cleanly"))
    }

    @Test func jsonLogsAreOneObjectPerLineWithTheDocumentedKeys() async throws {
        let (dir, _) = try write(#"""
            {"name": "live", "components": {
              "inbox": {"type": "channel"},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0, "accessLog": true},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
              "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}}
            }}
            """#)
        let p = try LiveProcess(switchboardBinary(), ["run", "--log-format", "json"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor(#""message":"system \"live\" running"#))
        // Two requests for the access log: a 404 with a token in its query, and a publish.
        let base = try #require(p.text.firstMatch(of: /listening on (http:\/\/[0-9.:]+)/)?.1)
        for args in [["-s", "\(base)/nowhere?token=s3cret"], ["-s", "-d", "hi there", "-H", "Content-Type: text/plain", "\(base)/messages"]] {
            let curl = try LiveProcess("/usr/bin/env", ["curl"] + args)
            #expect(await curl.waitForExit() == 0)
        }
        #expect(await p.waitFor(#""message":"POST /messages 202""#))
        // An event stream (served ahead of Hummingbird) is logged when it ends: here, its client leaves.
        let stream = try LiveProcess("/usr/bin/env", ["curl", "-s", "-N", "--max-time", "1", "\(base)/events"])
        #expect(await stream.waitForExit() == 28)
        #expect(await p.waitFor(#""message":"GET /events 200""#))
        p.signal(SIGTERM)
        #expect(await p.waitForExit() == 0)
        let lines = p.text.split(separator: "\n")
        #expect(lines.count > 8)
        for line in lines {
            let value = try JSONParser.parse(String(line)).value
            for key in ["time", "level", "message", "logger", "source"] {
                #expect(value[key]?.stringValue?.isEmpty == false, "\(key) in \(line)")
            }
        }
        // A component's lines name it in their own key; the stop order is in the messages.
        let messages = lines.compactMap { try? JSONParser.parse(String($0)).value }
        #expect(messages.contains { $0["component"] == "http" && $0["message"]?.stringValue?.hasPrefix("listening on http://") == true })
        #expect(messages.contains { $0["message"]?.stringValue?.hasPrefix("system stopped cleanly") == true })
        let notFound = try #require(messages.first { $0["message"] == "GET /nowhere 404" })
        #expect(notFound["component"] == "http")
        #expect(notFound["metadata"]?["path"] == "/nowhere" && notFound["metadata"]?["status"] == "404")
        #expect(notFound["metadata"]?["bytes"]?.stringValue.flatMap(Int.init).map { $0 > 0 } == true)
        #expect(notFound["metadata"]?["durationMs"] != nil)
        let streamed = try #require(messages.first { $0["message"] == "GET /events 200" })
        #expect(streamed["metadata"]?["bytes"]?.stringValue.flatMap(Int.init).map { $0 >= "retry: 2000\n\n".count } == true)
        #expect(streamed["metadata"]?["durationMs"]?.stringValue.flatMap(Double.init).map { $0 >= 900 } == true)
        #expect(!p.text.contains("s3cret"), "a query string (where tokens travel) is never logged")
        let bad = try await run(["run", "--log-format", "xml"], in: dir)
        #expect(bad.status != 0 && bad.text.contains("--log-format"))
    }

    @Test func runRefusesAnInvalidFileWithTheProblemsAndExits1() async throws {
        let (dir, _) = try write(#"{"components": {"x": {"type": "nope"}}}"#)
        let (status, text) = try await run(["run"], in: dir)
        #expect(status == 1)
        #expect(text.contains("components.x.type"))
    }

    static let small = #"{"name": "live", "components": {"inbox": {"type": "channel"}}}"#
    static let bigger = #"{"name": "live", "components": {"inbox": {"type": "channel"}, "side": {"type": "channel", "buffer": 8}}}"#

    @Test func sighupReloadsTheLiveBinary() async throws {
        let (dir, file) = try write(Self.small)
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor(#"system "live" running"#))
        try Self.bigger.write(toFile: file, atomically: true, encoding: .utf8)
        p.signal(SIGHUP)
        #expect(await p.waitFor("reload applied"))
        #expect(p.text.contains("add      side"))
        let status = try await run(["console", "--no-rc", "-c", "status"], in: dir)
        #expect(status.status == 0)
        #expect(status.text.contains("side"))
        // A broken file changes nothing and says why, with the path.
        try #"{"components": {"inbox": {"type": "chanel"}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        p.signal(SIGHUP)
        #expect(await p.waitFor("reload (SIGHUP) refused, nothing changed"))
        #expect(p.text.contains("components.inbox.type"))
        // …and a console's `log` shows it too, not only the server's log.
        let log = try await run(["console", "--no-rc", "-c", "log -n 3"], in: dir)
        #expect(log.text.contains("refused, nothing changed"))
        #expect(log.text.contains("components.inbox.type"))
        p.signal(SIGTERM)
        #expect(await p.waitForExit() == 0)
    }

    @Test func watchPicksUpAnEdit() async throws {
        let (dir, file) = try write(Self.small)
        let p = try LiveProcess(switchboardBinary(), ["run", "--watch"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor("watching"))
        #expect(await p.waitFor(#"system "live" running"#))
        try Self.bigger.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(await p.waitFor("reload (file changed)"))
        #expect(await p.waitFor("reload applied"))
        let dry = try await run(["console", "--no-rc", "-c", "reload --dry-run"], in: dir)
        #expect(dry.text.contains("nothing to do"))
        p.signal(SIGTERM)
        #expect(await p.waitForExit() == 0)
    }

    @Test func consoleShutdownEndsTheProcessCleanly() async throws {
        let (dir, _) = try write(Self.small)
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor(#"system "live" running"#))
        let refused = try await run(["console", "--no-rc", "-c", "shutdown"], in: dir)
        #expect(refused.status == 1)
        let done = try await run(["console", "--no-rc", "-c", "shutdown --confirm"], in: dir)
        #expect(done.status == 0, "\(done.text)")
        #expect(await p.waitForExit() == 0, "\(p.text)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/.switchboard/admin.sock"))
    }

    @Test func aSecondServerOnTheSameSocketIsRefused() async throws {
        let (dir, _) = try write(Self.small)
        let p = try LiveProcess(switchboardBinary(), ["run"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor(#"system "live" running"#))
        let second = try await run(["run"], in: dir)
        #expect(second.status == 1)
        #expect(second.text.contains("already listening"))
    }
}

