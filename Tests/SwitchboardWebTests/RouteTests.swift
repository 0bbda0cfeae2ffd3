import HTTPTypes
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import SwitchboardWeb
import Testing

/// In-process: requests handed to the server's responder, no socket.
@Suite struct RouteTests {
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": {"size": 1}, "transforms": ["emoticons"]},
          "http": {"type": "http-server", "port": 0, "requestBodyLimit": 64,
                   "cors": {"origins": ["https://ok.example"], "methods": ["GET", "POST"]}},
          "publish": {"type": "publish", "wait": "10ms", "using": {"server": "http", "channel": "inbox"}}
        }}
        """#

    func withServer(_ body: (HTTPServerComponent, WebHarness) async throws -> Void) async throws {
        let h = try await WebHarness.start(Self.system)
        let server = try await h.component("http", as: HTTPServerComponent.self)
        do { try await body(server, h) } catch { await h.stop(); throw error }
        await h.stop()
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    @Test func publishAcceptsJSONAndAnswersWithTheId() async throws {
        try await withServer { server, h in
            let r = try await InProcess.respond(server, .post, "/messages", headers: Self.json, body: #"{"from": "ann", "text": "hi :)"}"#)
            #expect(r.status == 202)
            let body = try JSONParser.parse(r.body).value
            let id = try #require(body["id"]?.stringValue)
            let inbox = try await h.component("inbox", as: ChannelComponent.self)
            let m = try #require(try inbox.currentChan().poll())
            #expect(m.id.description == id)
            #expect(m.text == "hi 🙂")
            #expect(m.from == "ann")
        }
    }

    @Test func publishAcceptsFormsAndPlainText() async throws {
        try await withServer { server, h in
            let inbox = try await h.component("inbox", as: ChannelComponent.self)
            let form = try await InProcess.respond(server, .post, "/messages", headers: [.contentType: "application/x-www-form-urlencoded"], body: "from=bo+b&text=a%26b&room=x")
            #expect(form.status == 202)
            let m = try #require(try inbox.currentChan().poll())
            #expect((m.from, m.text, m.room) == ("bo b", "a&b", "x"))
            let text = try await InProcess.respond(server, .post, "/messages?from=cy", headers: [.contentType: "text/plain; charset=utf-8"], body: "line one\nline two")
            #expect(text.status == 202)
            let t = try #require(try inbox.currentChan().poll())
            #expect((t.from, t.text) == ("cy", "line one\nline two"))
        }
    }

    @Test(arguments: [
        (#"{"text": "#, "bad JSON"),
        (#"["text"]"#, "bad JSON"),
        (#"{"from": "a"}"#, "missing text"),
        (#"{"from": "a", "text": "   "}"#, "missing text"),
        (#"{"from": 3, "text": "x"}"#, "\"from\" must be a string"),
    ])
    func publishRefusesBadInputWithAJSONReason(body: String, reason: String) async throws {
        try await withServer { server, _ in
            let r = try await InProcess.respond(server, .post, "/messages", headers: Self.json, body: body)
            #expect(r.status == 400)
            let error = try JSONParser.parse(r.body).value["error"]?.stringValue ?? ""
            #expect(error.contains(reason))
        }
    }

    @Test func publishRefusesUnsupportedTypesAndLargeBodies() async throws {
        try await withServer { server, _ in
            let png = try await InProcess.respond(server, .post, "/messages", headers: [.contentType: "image/png"], body: "x")
            #expect(png.status == 415)
            #expect(png.headers[.contentType]?.hasPrefix("application/json") == true)
            let big = String(repeating: "a", count: 100)
            let declared = try await InProcess.respond(server, .post, "/messages", headers: [.contentType: "text/plain", .contentLength: "100"], body: big)
            #expect(declared.status == 413)
            let streamed = try await InProcess.respond(server, .post, "/messages", headers: [.contentType: "text/plain"], body: big)
            #expect(streamed.status == 413)
        }
    }

    @Test func publishAnswers503WithRetryAfterWhenTheChannelStaysFull() async throws {
        try await withServer { server, _ in
            let first = try await InProcess.respond(server, .post, "/messages", headers: Self.json, body: #"{"text": "1"}"#)
            #expect(first.status == 202)
            let second = try await InProcess.respond(server, .post, "/messages", headers: Self.json, body: #"{"text": "2"}"#)
            #expect(second.status == 503)
            #expect(second.headers[.retryAfter] == "1")
            #expect(try JSONParser.parse(second.body).value["error"] != nil)
        }
    }

    @Test func unknownRoutesAre404AndWrongMethods405() async throws {
        try await withServer { server, _ in
            let missing = try await InProcess.respond(server, .get, "/nothing")
            #expect(missing.status == 404)
            #expect(try JSONParser.parse(missing.body).value["error"] != nil)
            let wrong = try await InProcess.respond(server, .get, "/messages")
            #expect(wrong.status == 405)
            #expect(wrong.headers[.allow] == "POST")
        }
    }

    @Test func corsPreflightAndHeaders() async throws {
        try await withServer { server, _ in
            let ok = try await InProcess.respond(server, .options, "/messages", headers: [
                .origin: "https://ok.example", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type",
            ])
            #expect(ok.status == 204)
            #expect(ok.headers[.accessControlAllowOrigin] == "https://ok.example")
            #expect(ok.headers[.accessControlAllowMethods]?.contains("POST") == true)
            let evil = try await InProcess.respond(server, .options, "/messages", headers: [.origin: "https://evil.example", .accessControlRequestMethod: "POST"])
            #expect(evil.status == 403)
            let method = try await InProcess.respond(server, .options, "/messages", headers: [.origin: "https://ok.example", .accessControlRequestMethod: "DELETE"])
            #expect(method.status == 403)
            let actual = try await InProcess.respond(server, .post, "/messages", headers: [.origin: "https://ok.example", .contentType: "application/json"], body: #"{"text": "x"}"#)
            #expect(actual.headers[.accessControlAllowOrigin] == "https://ok.example")
            let other = try await InProcess.respond(server, .get, "/nothing", headers: [.origin: "https://evil.example"])
            #expect(other.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func endpointsAddAndRemoveTheirRoutesWhileTheServerRuns() async throws {
        try await withServer { server, h in
            let port = server.boundPort
            try await h.map.stop("publish")
            #expect(try await InProcess.respond(server, .post, "/messages", headers: Self.json, body: #"{"text": "x"}"#).status == 404)
            #expect(await h.map.state(of: "http") == .running)
            try await h.map.start("publish")
            #expect(try await InProcess.respond(server, .post, "/messages", headers: Self.json, body: #"{"text": "x"}"#).status == 202)
            #expect(server.boundPort == port)
        }
    }

    @Test func twoEndpointsOnOneRouteAreAConfigError() {
        let issues = TestSystems.issues(#"""
            {"components": {
              "c": {"type": "channel"}, "http": {"type": "http-server", "port": 0},
              "a": {"type": "publish", "path": "/in", "using": {"server": "http", "channel": "c"}},
              "b": {"type": "publish", "path": "/in", "using": {"server": "http", "channel": "c"}}
            }}
            """#, registry: WebHarness.registry)
        #expect(issues.map(\.reason) == [.conflict])
        #expect(issues.first?.message.contains("POST /in") == true)
        #expect(issues.first?.message.contains("\"a\"") == true)
    }

    @Test func serverConfigMistakesAreReportedWithPaths() {
        let issues = TestSystems.issues(#"""
            {"components": {"http": {"type": "http-server", "port": 70000, "cors": {"origins": "*", "credentials": true}, "hots": "x"}}}
            """#, registry: WebHarness.registry)
        let byPath = Dictionary(issues.map { ($0.path.description, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["components.http.port"] == .invalidValue)
        #expect(byPath["components.http.cors.credentials"] == .invalidValue)
        #expect(byPath["components.http.hots"] == .unknownField)
    }
}

/// A user's endpoint, written against the public API: an `EndpointMount` and `HTTPEndpoint`
/// give it the built-ins' behaviour — routes on start, gone on stop, 503 while it restarts.
final class EchoEndpoint: HTTPEndpoint {
    let mount: EndpointMount
    init(_ context: ComponentContext) { mount = EndpointMount(context) }
    static let type = ComponentType("echo", summary: "GET /echo: the path, as JSON.") { EchoEndpoint($0) }
    func start() async throws {
        try mount.mount([HTTPRoute(.get, "/echo") { request, _ in .json(.ok, ["path": .string(request.uri.path)]) }])
    }
}

@Suite struct UserEndpointTests {
    @Test func aUsersEndpointAnswers503WhileSuspendedAnd404OnceReleased() async throws {
        var registry = WebHarness.registry
        registry.register([EchoEndpoint.type])
        let system = try SystemLoader(registry: registry, environment: [:], logger: .tests).load(text: #"""
            {"components": {"http": {"type": "http-server", "port": 0}, "echo": {"type": "echo", "using": {"server": "http"}}}}
            """#)
        let map = SystemMap(system, logger: .tests)
        try await map.start()
        let h = WebHarness(map: map)
        defer { Task { await h.stop() } }
        #expect(try await h.request(.GET, "/echo").status == 200)
        let echo = try await h.component("echo", as: EchoEndpoint.self)
        let kept = try await echo.suspend()
        let away = try await h.request(.GET, "/echo")
        #expect(away.status == 503 && away.headers.first(name: "retry-after") == "1")
        await echo.release(try #require(kept))
        #expect(try await h.request(.GET, "/echo").status == 404)
    }
}
