import Foundation
import HTTPTypes
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import SwitchboardWeb
import Testing

/// Inbound webhooks through the server's responder.
@Suite struct WebhookInTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    static func system(verify: String = "standard", secret: String? = secret, extra: String = "") -> String {
        let s = secret.map { #", "secret": "\#($0)""# } ?? #", "secret": {"$env": "SB_TEST_UNSET_SECRET", "optional": true}"#
        return #"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 8},
              "http": {"type": "http-server", "port": 0},
              "hook": {"type": "webhook-in", "verify": "\#(verify)"\#(s), "maxBodySize": 256,
                       "map": {"text": "event.text", "from": "event.user"}\#(extra),
                       "using": {"server": "http", "channel": "inbox"}}
            }}
            """#
    }

    func signed(_ body: String, id: String = UUID().uuidString, at date: Date = Date()) -> HTTPFields {
        let ts = Int(date.timeIntervalSince1970)
        let sig = (try? StandardWebhookSigner(secret: Self.secret))?.sign(id: id, timestamp: ts, body: Array(body.utf8)) ?? ""
        return [HTTPField.Name("webhook-id")!: id, HTTPField.Name("webhook-timestamp")!: String(ts),
                HTTPField.Name("webhook-signature")!: sig, .contentType: "application/json"]
    }

    func with(_ json: String, _ body: (HTTPServerComponent, ChannelComponent) async throws -> Void) async throws {
        let h = try await WebHarness.start(json)
        let server = try await h.component("http", as: HTTPServerComponent.self)
        let inbox = try await h.component("inbox", as: ChannelComponent.self)
        do { try await body(server, inbox) } catch { await h.stop(); throw error }
        await h.stop()
    }

    static let event = #"{"event": {"text": "deployed :)", "user": "ci"}}"#

    @Test func aValidDeliveryBecomesAMessage() async throws {
        try await with(Self.system()) { (server: HTTPServerComponent, inbox: ChannelComponent) async throws in
            let r = try await InProcess.respond(server, .post, "/webhooks/hook", headers: signed(Self.event, id: "msg_1"), body: Self.event)
            #expect(r.status == 202)
            let m = try #require(try inbox.currentChan().poll())
            #expect((m.text, m.from) == ("deployed :)", "ci"))
            #expect(m.data?["webhookId"] == "msg_1")
            #expect(m.data?["payload"]?["event"]?["user"] == "ci")
        }
    }

    @Test func aSenderOverItsRateLimitGets429WithRetryAfter() async throws {
        let json = Self.system(extra: #", "rateLimit": {"messages": 1, "per": "1h", "burst": 2}"#)
        try await with(json) { (server: HTTPServerComponent, inbox: ChannelComponent) async throws in
            for _ in 0..<2 {
                #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: signed(Self.event), body: Self.event).status == 202)
            }
            let r = try await InProcess.respond(server, .post, "/webhooks/hook", headers: signed(Self.event), body: Self.event)
            #expect(r.status == 429)
            #expect(r.headers[.retryAfter].flatMap(Int.init).map { $0 > 3000 } == true)
            #expect(try inbox.currentChan().stats.count == 2, "the third never reached the channel")
        }
    }

    @Test func aReplayIsRecognisedAndNotPutTwice() async throws {
        try await with(Self.system()) { (server: HTTPServerComponent, inbox: ChannelComponent) async throws in
            let headers = signed(Self.event, id: "msg_replayed")
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: headers, body: Self.event).status == 202)
            let again = try await InProcess.respond(server, .post, "/webhooks/hook", headers: headers, body: Self.event)
            #expect(again.status == 200)
            #expect(try JSONParser.parse(again.body).value["status"] == "duplicate")
            #expect(try inbox.currentChan().stats.puts == 1)
        }
    }

    @Test func badSignaturesAre401AndNeverReachTheChannel() async throws {
        try await with(Self.system()) { (server: HTTPServerComponent, inbox: ChannelComponent) async throws in
            var tampered = signed(Self.event)
            let r1 = try await InProcess.respond(server, .post, "/webhooks/hook", headers: tampered, body: Self.event.replacingOccurrences(of: "ci", with: "eve"))
            #expect(r1.status == 401)
            tampered[HTTPField.Name("webhook-signature")!] = nil
            let r2 = try await InProcess.respond(server, .post, "/webhooks/hook", headers: tampered, body: Self.event)
            #expect(r2.status == 401)
            #expect(try JSONParser.parse(r2.body).value["error"]?.stringValue?.contains("webhook-signature") == true)
            let stale = signed(Self.event, at: Date().addingTimeInterval(-600))
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: stale, body: Self.event).status == 401)
            var badTime = signed(Self.event)
            badTime[HTTPField.Name("webhook-timestamp")!] = "yesterday"
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: badTime, body: Self.event).status == 400)
            #expect(try inbox.currentChan().stats.puts == 0)
        }
    }

    @Test func malformedAndOversizedBodiesAreClientErrors() async throws {
        try await with(Self.system()) { (server: HTTPServerComponent, _: ChannelComponent) async throws in
            let notJSON = "this is not json"
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: signed(notJSON), body: notJSON).status == 400)
            let big = #"{"pad": ""# + String(repeating: "x", count: 400) + #""}"#
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: signed(big), body: big).status == 413)
        }
    }

    @Test func anUnsetSecretRefusesEverythingClearly() async throws {
        try await with(Self.system(secret: nil)) { (server: HTTPServerComponent, inbox: ChannelComponent) async throws in
            let r = try await InProcess.respond(server, .post, "/webhooks/hook", headers: signed(Self.event), body: Self.event)
            #expect(r.status == 503)
            #expect(try JSONParser.parse(r.body).value["error"]?.stringValue?.contains("SB_TEST_UNSET_SECRET") == true)
            #expect(try inbox.currentChan().stats.puts == 0)
        }
    }

    @Test func gitHubSignaturesAreChecked() async throws {
        let json = Self.system(verify: "github", secret: "gh-secret")
        try await with(json) { (server: HTTPServerComponent, inbox: ChannelComponent) async throws in
            let sig = GitHubSignature(secret: "gh-secret").sign(body: Array(Self.event.utf8))
            var h: HTTPFields = [HTTPField.Name("X-Hub-Signature-256")!: sig, HTTPField.Name("X-GitHub-Delivery")!: "d-1", .contentType: "application/json"]
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: h, body: Self.event).status == 202)
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: h, body: Self.event).status == 200)
            h[HTTPField.Name("X-Hub-Signature-256")!] = "sha256=" + String(repeating: "0", count: 64)
            h[HTTPField.Name("X-GitHub-Delivery")!] = "d-2"
            #expect(try await InProcess.respond(server, .post, "/webhooks/hook", headers: h, body: Self.event).status == 401)
            #expect(try inbox.currentChan().stats.puts == 1)
        }
    }

    @Test func configMistakesNameTheirPaths() {
        let issues = TestSystems.issues(Self.system(secret: "not-base64!").replacingOccurrences(of: #""verify": "standard""#, with: #""verify": "standerd""#), registry: WebHarness.registry)
        let byPath = Dictionary(issues.map { ($0.path.description, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["components.hook.verify"] == .invalidValue)
        let secretIssues = TestSystems.issues(Self.system(secret: "not-base64!"), registry: WebHarness.registry)
        #expect(secretIssues.map(\.path.description) == ["components.hook.secret[0]"])
        #expect(!secretIssues[0].message.contains("not-base64"))
    }
}
