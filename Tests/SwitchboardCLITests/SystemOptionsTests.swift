import Foundation
import Switchboard
import SwitchboardTesting
import Testing

/// Variables, profiles and `check --show` on the real binary.
@Suite struct SystemOptionsTests {
    static let system = #"""
        {"name": "opts",
         "vars": {
           "port": {"type": "port", "default": 8080, "env": "OPTS_TEST_PORT", "doc": "where it listens"},
           "key": {"type": "secret", "env": "OPTS_TEST_KEY", "doc": "the webhook secret"},
           "beat": {"type": "duration", "default": "15s"},
           "big": {"type": "size", "default": "64KiB"}
         },
         "profiles": {
           "dev": {"log": {"level": "debug"}, "components": {"events": {"heartbeat": "1s"}}},
           "prod": {"log": {"format": "json"}, "components": {"http": {"host": "0.0.0.0"}, "hooks": null}}
         },
         "components": {
           "inbox": {"type": "channel"},
           "fanout": {"type": "mult", "using": {"source": "inbox"}},
           "http": {"type": "http-server", "port": {"$var": "port"}},
           "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}},
           "events": {"type": "sse", "heartbeat": {"$var": "beat"}, "bufferBytes": {"$var": "big"}, "using": {"server": "http", "source": "fanout"}},
           "hooks": {"type": "webhook-in", "verify": "standard", "secret": {"$var": "key"}, "using": {"server": "http", "channel": "inbox"}}
         }}
        """#

    func write(_ json: String = Self.system) throws -> (dir: String, file: String) {
        let dir = try temporaryDirectory()
        let file = dir + "/system.json"
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        return (dir, file)
    }

    func run(_ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32?, text: String) {
        let p = try LiveProcess(switchboardBinary(), args, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        let status = await p.waitForExit()
        p.terminate()
        return (status, p.text)
    }

    @Test func showPrintsTheDocumentAsItRunsWithProfilesVariablesAndSecretsMasked() async throws {
        let (_, file) = try write()
        let (status, text) = try await run(["check", "--profile", "prod", "--set", "port=9001", "--show", file],
                                           environment: ["OPTS_TEST_KEY": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"])
        #expect(status == 0)
        let shown = try JSONParser.parse(text).value
        #expect(shown["components"]?["http"]?["port"] == 9001)
        #expect(shown["components"]?["http"]?["host"] == "0.0.0.0")
        #expect(shown["components"]?["events"]?["heartbeat"] == "15s")
        #expect(shown["components"]?["events"]?["bufferBytes"] == 65536)
        // The profile removed it (a merge patch's null), and the secret it used is not needed.
        #expect(shown["components"]?["hooks"] == nil)
        #expect(shown["log"]?["format"] == "json")
        #expect(shown["profiles"] == nil && shown["vars"] == nil)
        #expect(!text.contains("c2VjcmV0"))

        // Without the profile the secret is used: masked, never shown.
        let plain = try await run(["check", "--show", "--defaults", file], environment: ["OPTS_TEST_KEY": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"])
        #expect(plain.status == 0)
        let all = try JSONParser.parse(plain.text).value
        #expect(all["components"]?["hooks"]?["secret"] == "••••")
        #expect(!plain.text.contains("c2VjcmV0"))
        // --defaults fills in what the components read at their defaults.
        #expect(all["components"]?["http"]?["maxConnections"] == 16384)
        #expect(all["components"]?["events"]?["retry"] == 2000)
        #expect(all["components"]?["http"]?["port"] == 8080)
    }

    @Test func aVariableWithoutAValueOrThatDoesNotParseNamesTheVariableItsSourceAndThePath() async throws {
        let (_, file) = try write()
        let unset = try await run(["check", file])
        #expect(unset.status == 1)
        #expect(unset.text.contains("components.hooks.secret: variable key has no value: give it --set key=…, or the environment variable OPTS_TEST_KEY"))
        let bad = try await run(["check", "--profile", "prod", file], environment: ["OPTS_TEST_PORT": "80800"])
        #expect(bad.status == 1)
        #expect(bad.text.contains("components.http.port: variable port: the value from environment variable OPTS_TEST_PORT 80800 is not a port (0…65535)"))
        // --set comes before the environment.
        #expect(try await run(["check", "--profile", "prod", "--set", "port=8081", file], environment: ["OPTS_TEST_PORT": "80800"]).status == 0)
        let duration = try await run(["check", "--profile", "prod", "--set", "beat=soon", file])
        #expect(duration.text.contains(#"components.events.heartbeat: variable beat: the value from --set "soon" is not a duration"#))
        let undeclared = try await run(["check", "--profile", "prod", "--set", "prot=1", file])
        #expect(undeclared.text.contains(#"--set prot: no variable "prot" (the file declares port, key, beat, big) (did you mean "port"?)"#))
        let malformed = try await run(["check", "--set", "port", file])
        #expect(malformed.status != 0 && malformed.text.contains("--set port: expected name=value"))
        let profile = try await run(["check", "--profile", "prdo", file])
        #expect(profile.text.contains(#"profiles: no profile "prdo" (the file declares dev, prod) (did you mean "prod"?)"#))
        let reference = try await run(["check", "--profile", "prod", "--set", "port=1"] + [try write(Self.system.replacingOccurrences(of: #"{"$var": "beat"}"#, with: #"{"$var": "baet"}"#)).file])
        #expect(reference.text.contains(#"components.events.heartbeat: no variable "baet" (declare it under "vars") (did you mean "beat"?)"#))
    }

    @Test func varsListsEachVariableWithItsTypeValueSourceAndDoc() async throws {
        let (_, file) = try write()
        let (status, text) = try await run(["vars", "--set", "beat=2s", file], environment: ["OPTS_TEST_KEY": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0", "OPTS_TEST_PORT": "9100"])
        #expect(status == 0)
        let lines = text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.contains("port port 9100 environment variable OPTS_TEST_PORT where it listens"))
        #expect(lines.contains("key secret •••• environment variable OPTS_TEST_KEY the webhook secret"))
        #expect(lines.contains("beat duration 2s --set"))
        #expect(lines.contains("big size 65536 default"))
        #expect(!text.contains("c2VjcmV0"))
    }

    /// `--env-file`: a dotenv file gives the names the environment does not have.
    @Test func anEnvFileGivesWhatTheEnvironmentDoesNot() async throws {
        let (dir, file) = try write()
        try "# local\nOPTS_TEST_PORT=9123\nOPTS_TEST_KEY=\"whsec_c2VjcmV0c2VjcmV0c2VjcmV0\"\n".write(toFile: dir + "/.env", atomically: true, encoding: .utf8)
        let fromFile = try await run(["vars", "--env-file", dir + "/.env", file])
        #expect(fromFile.status == 0, "\(fromFile.text)")
        #expect(fromFile.text.contains("9123") && fromFile.text.contains("••••") && !fromFile.text.contains("c2VjcmV0"))
        let shown = try await run(["check", "--show", "--env-file", dir + "/.env", file], environment: ["OPTS_TEST_PORT": "9200"])
        #expect(try JSONParser.parse(shown.text).value["components"]?["http"]?["port"] == 9200)
        let missing = try await run(["check", "--env-file", dir + "/none.env", file])
        #expect(missing.status != 0 && missing.text.contains("--env-file \(dir)/none.env"))
    }

    /// `--only publish`: the publish endpoint and what it uses (channel, server) start; the
    /// stream endpoint, the mult and the webhook do not. `check --only` prints that order.
    @Test func onlyStartsTheNamedComponentsAndWhatTheyUse() async throws {
        let (dir, file) = try write()
        let check = try await run(["check", "--only", "publish", "--set", "port=0", file])
        #expect(check.status == 0)
        #expect(check.text.contains("3 components (--only: these and what they use)"))
        #expect(check.text.contains("1. inbox (channel), http (http-server)") && check.text.contains("2. publish (publish)"))
        let ghost = try await run(["check", "--only", "publsh", "--set", "port=0", file])
        #expect(ghost.text.contains(#"components: --only publsh: no component named "publsh" (did you mean "publish"?)"#))

        // The webhook's secret is not needed: the webhook is not started.
        let p = try LiveProcess(switchboardBinary(), ["run", "--only", "publish", "--set", "port=0"], directory: dir)
        defer { p.terminate() }
        let base = try #require(await p.listeningURL())
        #expect(await p.waitFor(#"system "opts" running"#))
        for (path, status) in [("/messages", "202"), ("/events", "404")] {
            let curl = try LiveProcess("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", "-H", "Content-Type: text/plain",
                                                          "-d", "hi", "\(base)\(path)?from=ann"])
            #expect(await curl.waitForExit() == 0)
            #expect(curl.text == status)
        }
    }

    /// The `chat` module expands into the root system's components, named `chat.…`, with its
    /// overrides applied; what it is shown as is the expansion.
    @Test func theChatModuleExpandsIntoTheRootSystemsComponents() async throws {
        let (_, file) = try write(#"""
            {"vars": {"port": {"type": "port", "default": 8080}},
             "components": {"chat": {"type": "chat", "port": {"$var": "port"}, "store": "c.sqlite", "ops": null,
                                     "auth": {"keys": [{"alg": "HS256", "secret": "a-secret-of-thirty-two-bytes-at-least"}]},
                                     "overrides": {"inbox": {"buffer": {"size": 4096}}, "events": {"heartbeat": "5s"}}}}}
            """#)
        let (status, text) = try await run(["check", "--show", "--set", "port=9009", file])
        #expect(status == 0, "\(text)")
        let shown = try JSONParser.parse(text).value
        let names = shown["components"]?.objectValue?.keys ?? []
        #expect(names == ["chat.auth", "chat.inbox", "chat.fanout", "chat.archive", "chat.http", "chat.publish", "chat.history", "chat.events",
                          "chat.socket", "chat.hooks", "chat.page"])
        #expect(shown["components"]?["chat.http"]?["port"] == 9009)
        #expect(shown["components"]?["chat.inbox"]?["buffer"]?["size"] == 4096)
        #expect(shown["components"]?["chat.inbox"]?["buffer"]?["policy"] == "fixed")
        #expect(shown["components"]?["chat.events"]?["heartbeat"] == "5s")
        #expect(shown["components"]?["chat.publish"]?["using"]?["auth"] == "chat.auth")
        #expect(shown["components"]?["chat.auth"]?["keys"]?[0]?["secret"] == "••••")
        let graph = try await run(["graph", "--format", "text", file])
        #expect(graph.text.contains("chat.fanout (mult) ← source=chat.inbox"))

        let (_, wrong) = try write(#"{"components": {"chat": {"type": "chat", "prot": 1, "overrides": {"inbx": {}}}}}"#)
        let refused = try await run(["check", wrong])
        #expect(refused.status == 1)
        #expect(refused.text.contains(#"components.chat.overrides.inbx: module chat (chat) makes no component "inbx""#))
        #expect(refused.text.contains(#"components.chat.prot: unknown field "prot""#))
    }

    /// A refset on the real binary: `check --show` prints the list it became, `graph` its edges.
    @Test func aRefsetIsShownAsTheListItBecame() async throws {
        let (_, file) = try write(#"""
            {"components": {
              "a": {"type": "store", "engine": "sqlite", "path": "a.sqlite", "using": {"source": "fan"}},
              "in": {"type": "channel"}, "fan": {"type": "mult", "using": {"source": "in"}},
              "b": {"type": "store", "engine": "sqlite", "path": "b.sqlite", "using": {"source": "fan"}},
              "ops": {"type": "http-server", "port": 0},
              "health": {"type": "health", "using": {"server": "ops", "checks": {"$all": "store"}}},
              "metrics": {"type": "metrics", "using": {"server": "ops", "sources": {"$all": "message-store"}}},
              "ready": {"type": "health", "ready": "/r", "live": "/l", "using": {"server": "ops", "checks": {"$all": "degradable"}}}
            }}
            """#)
        let shown = try await run(["check", "--show", file])
        #expect(shown.status == 0, "\(shown.text)")
        let components = try JSONParser.parse(shown.text).value["components"]
        #expect(components?["health"]?["using"]?["checks"] == ["a", "b"])
        // By capability: what the stores' type declares (and the real registry checks).
        #expect(components?["metrics"]?["using"]?["sources"] == ["a", "b"])
        #expect(components?["ready"]?["using"]?["checks"] == ["a", "b"])
        let wrong = try await run(["check", try write(#"{"components": {"ops": {"type": "http-server"}, "m": {"type": "metrics", "using": {"server": "ops", "sources": {"$all": "degradabel"}}}}}"#).1])
        #expect(wrong.status != 0)
        #expect(wrong.text.contains(#"components.m.using.sources.$all: unknown component type or capability "degradabel" (did you mean "degradable"?)"#), "\(wrong.text)")
        let graph = try await run(["graph", "--format", "text", file])
        #expect(graph.text.contains("checks=a") && graph.text.contains("checks=b"), "\(graph.text)")
    }

    /// `run` with a profile and `--set`: the port comes from the variable, the JSON log format
    /// from the profile's `log` section.
    @Test func runUsesTheProfilesLogAndTheVariables() async throws {
        let (dir, _) = try write()
        let p = try LiveProcess(switchboardBinary(), ["run", "--profile", "prod", "--set", "port=0"], directory: dir)
        defer { p.terminate() }
        #expect(await p.waitFor(#""message":"system \"opts\" running"#))
        #expect(p.text.contains(#"listening on http://0.0.0.0:"#))
    }
}
