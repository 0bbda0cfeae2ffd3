import _CryptoExtras
import Foundation
import JWTKit
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import SwitchboardWeb
import Synchronization
import Testing

/// Tokens on the publish endpoint: real JWTs signed with jwt-kit, refused by reason.
@Suite struct AuthTests {
    static let secret = "a-test-secret-of-at-least-32-bytes!!"
    static let es256 = ES256PrivateKey()
    static let rsa = try! JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))

    struct Claims: JWTPayload {
        var sub: SubjectClaim?
        var exp: ExpirationClaim?
        var iat: IssuedAtClaim?
        var nbf: NotBeforeClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var rooms: [String]?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func claims(sub: String? = "alice", exp: TimeInterval? = 3600, iat: TimeInterval? = nil, nbf: TimeInterval? = nil, iss: String? = "https://id.test",
                       aud: String? = "chat", rooms: [String]? = ["lobby", "dev-*"]) -> Claims {
        Claims(sub: sub.map { SubjectClaim(value: $0) }, exp: exp.map { ExpirationClaim(value: Date().addingTimeInterval($0)) },
               iat: iat.map { IssuedAtClaim(value: Date().addingTimeInterval($0)) },
               nbf: nbf.map { NotBeforeClaim(value: Date().addingTimeInterval($0)) }, iss: iss.map { IssuerClaim(value: $0) },
               aud: aud.map { AudienceClaim(value: [$0]) }, rooms: rooms)
    }

    static func hs256(_ claims: Claims, secret: String = secret) async throws -> String {
        try await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256).sign(claims)
    }

    static func system() throws -> String {
        let pem = es256.publicKey.pemRepresentation
        let rsaPEM = rsa.publicKey.pemRepresentation
        func json(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: "\\n") }
        return #"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 64},
              "http": {"type": "http-server", "port": 0},
              "auth": {"type": "auth", "issuer": "https://id.test", "audience": "chat", "leeway": "5s", "keys": [
                {"alg": "HS256", "secret": "\#(secret)"},
                {"alg": "ES256", "kid": "ec", "publicKey": "\#(json(pem))"},
                {"alg": "RS256", "kid": "rsa", "publicKey": "\#(json(rsaPEM))"}],
                "apiKeys": [{"key": "bot-key-0123456789", "name": "ci-bot", "rooms": ["builds"]}]},
              "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox", "auth": "auth"}}
            }}
            """#
    }

    func post(_ h: WebHarness, token: String?, body: String = #"{"text": "hi"}"#) async throws -> (status: Int, reason: String?, body: String) {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let r = try await h.request(.POST, "/messages", headers: headers, body: body)
        let reason = (try? JSONParser.parse(r.body).value)?["reason"]?.stringValue
        return (r.status, reason, r.body)
    }

    @Test func goodTokensOfEachAlgorithmPublishAsTheirSubject() async throws {
        let h = try await WebHarness.start(try Self.system())
        defer { Task { await h.stop() } }
        let es = try await JWTKeyCollection().add(ecdsa: Self.es256, kid: "ec").sign(Self.claims(sub: "bob"), kid: "ec")
        let rs = try await JWTKeyCollection().add(rsa: Self.rsa, digestAlgorithm: .sha256, kid: "rsa").sign(Self.claims(sub: "carol"), kid: "rsa")
        for (token, who) in [(try await Self.hs256(Self.claims()), "alice"), (es, "bob"), (rs, "carol")] {
            let r = try await post(h, token: token)
            #expect(r.status == 202, "\(who): \(r.body)")
        }
        let inbox = try await h.component("inbox", as: (any MessageChannel).self).currentChan()
        #expect([inbox.poll(), inbox.poll(), inbox.poll()].compactMap { $0?.from } == ["alice", "bob", "carol"])
        // An API key for a server-to-server publisher names who it publishes as.
        let bot = try await post(h, token: "bot-key-0123456789", body: #"{"text": "green", "room": "builds"}"#)
        #expect(bot.status == 202)
        #expect(inbox.poll()?.from == "ci-bot")
    }

    @Test func badTokensAre401ByReason() async throws {
        let h = try await WebHarness.start(try Self.system())
        defer { Task { await h.stop() } }
        let good = try await Self.hs256(Self.claims())
        let parts = good.split(separator: ".")
        func b64(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }
        // RS/HS confusion: HS256 "signed" with the RSA public key's PEM as the secret, naming the RSA key.
        let confused = try await JWTKeyCollection().add(hmac: HMACKey(from: Self.rsa.publicKey.pemRepresentation), digestAlgorithm: .sha256, kid: "rsa")
            .sign(Self.claims(), kid: "rsa")
        let cases: [(String?, String)] = [
            (nil, "missingToken"),
            ("not-a-jwt", "malformed"),
            (parts[0] + "." + parts[1] + ".AAAA" + parts[2].dropFirst(4), "badSignature"),
            (try await Self.hs256(Self.claims(), secret: "another-secret-of-at-least-32-bytes!"), "badSignature"),
            (b64(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + ".", "algorithmNone"),
            (confused, "algorithmMismatch"),
            (try await Self.hs256(Self.claims(exp: -60)), "expired"),
            (try await Self.hs256(Self.claims(exp: nil)), "missingExpiry"),
            (try await Self.hs256(Self.claims(nbf: 600)), "notYetValid"),
            (try await Self.hs256(Self.claims(iat: 600)), "issuedInFuture"),
            (try await Self.hs256(Self.claims(exp: 31 * 86_400)), "lifetimeTooLong"),
            (try await Self.hs256(Self.claims(exp: 3600, iat: -31 * 86_400)), "lifetimeTooLong"),
            (try await Self.hs256(Self.claims(iss: "https://elsewhere")), "wrongIssuer"),
            (try await Self.hs256(Self.claims(aud: "other")), "wrongAudience"),
            (try await Self.hs256(Self.claims(sub: nil)), "missingSubject"),
        ]
        for (token, reason) in cases {
            let r = try await post(h, token: token)
            #expect(r.status == 401, "\(reason): \(r.body)")
            #expect(r.reason == reason, "\(r.body)")
        }
        // Expired, or issued ahead, within the leeway is still good; so is 30 days' life.
        #expect(try await post(h, token: try await Self.hs256(Self.claims(exp: -2))).status == 202)
        #expect(try await post(h, token: try await Self.hs256(Self.claims(iat: 2))).status == 202)
        #expect(try await post(h, token: try await Self.hs256(Self.claims(exp: 30 * 86_400, iat: 0))).status == 202)
    }

    @Test func aForbiddenRoomIs403AndASpoofedFromIs400() async throws {
        let h = try await WebHarness.start(try Self.system())
        defer { Task { await h.stop() } }
        let token = try await Self.hs256(Self.claims(rooms: ["lobby", "dev-*"]))
        #expect(try await post(h, token: token, body: #"{"text": "x", "room": "dev-ops"}"#).status == 202)
        let forbidden = try await post(h, token: token, body: #"{"text": "x", "room": "secret"}"#)
        #expect(forbidden.status == 403)
        #expect(forbidden.reason == "forbiddenRoom")
        let spoofed = try await post(h, token: token, body: #"{"text": "x", "from": "mallory"}"#)
        #expect(spoofed.status == 400)
        #expect(spoofed.reason == "spoofedFrom")
        #expect(try await post(h, token: token, body: #"{"text": "x", "from": "alice"}"#).status == 202)
        // The token may come in the auth component's cookie instead of the header.
        let viaCookie = try await h.request(.POST, "/messages", headers: [("Content-Type", "application/json"), ("Cookie", "theme=dark; switchboard_token=\(token)")],
                                            body: #"{"text": "from a cookie"}"#)
        #expect(viaCookie.status == 202)
    }

    @Test func theConsolesTokenCommandMintsATokenTheComponentAccepts() async throws {
        let h = try await WebHarness.start(try Self.system())
        defer { Task { await h.stop() } }
        let auth = try await h.component("auth", as: AuthComponent.self)
        let (token, data) = try await auth.console(["--sub", "erin", "--rooms", "lobby, dev-*", "--ttl", "10m"])
        #expect(data["sub"] == "erin")
        let who = try await auth.identify(token)
        #expect(who.name == "erin" && who.publish == RoomPatterns(["lobby", "dev-*"]))
        // iat and exp are whole seconds (strict clients refuse a fraction), 10 minutes apart.
        var payload = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let claims = try JSONParser.parse(Array(try #require(Data(base64Encoded: payload)))).value
        let (iat, exp) = (try #require(claims["iat"]), try #require(claims["exp"]))
        #expect(iat.jsonText.allSatisfy(\.isNumber) && exp.jsonText.allSatisfy(\.isNumber), "\(claims)")
        #expect(exp.intValue.map { $0 - (iat.intValue ?? 0) } == 600)
        await #expect(throws: ConsoleCommandError.self) { _ = try await auth.console(["--rooms", "x"]) }
    }

    @Test func aVerifiedTokenIsRememberedOnlyUntilItExpires() async throws {
        let h = try await WebHarness.start(#"{"components": {"auth": {"type": "auth", "leeway": "0s", "keys": [{"alg": "HS256", "secret": "\#(Self.secret)"}]}}}"#)
        defer { Task { await h.stop() } }
        let auth = try await h.component("auth", as: AuthComponent.self)
        let token = try await Self.hs256(Self.claims(exp: 1, iss: nil, aud: nil))
        #expect(try await auth.identify(token).name == "alice")
        #expect(try await auth.identify(token).name == "alice", "the second check comes from memory")
        // Expiry is the scenario: wait it out, and the remembered token is refused all the same.
        try await Task.sleep(for: .milliseconds(1100))
        await #expect(throws: AuthFailure(.expired, "")) { try await auth.identify(token) }
    }

    @Test func keysFromAJWKSFileVerifyTokensThatNameThem() async throws {
        let dir = try temporaryDirectory()
        let key = ES256PrivateKey()
        let p = try #require(key.publicKey.parameters)
        try #"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "x": "\#(p.x)", "y": "\#(p.y)"}]}"#
            .write(toFile: dir + "/jwks.json", atomically: true, encoding: .utf8)
        let h = try await WebHarness.start(#"{"components": {"auth": {"type": "auth", "jwks": "\#(dir)/jwks.json"}}}"#)
        defer { Task { await h.stop() } }
        let auth = try await h.component("auth", as: AuthComponent.self)
        let claims = Self.claims(iss: nil, aud: nil)
        #expect(try await auth.identify(try await JWTKeyCollection().add(ecdsa: key, kid: "k1").sign(claims, kid: "k1")).name == "alice")
        await #expect(throws: AuthFailure(.unknownKey, "")) {
            try await auth.identify(try await JWTKeyCollection().add(ecdsa: key, kid: "k2").sign(claims, kid: "k2"))
        }
        await #expect(throws: AuthFailure(.badSignature, "")) {
            try await auth.identify(try await JWTKeyCollection().add(ecdsa: ES256PrivateKey(), kid: "k1").sign(claims, kid: "k1"))
        }
        let issues = TestSystems.issues(#"{"components": {"auth": {"type": "auth", "jwks": "\#(dir)/missing.json"}}}"#, registry: WebHarness.registry)
        #expect(issues.first?.path.description == "components.auth.jwks")
    }

    /// An unset secret is one problem, said once, with how to make one (it was three: the
    /// variable, "needs secret", "needs a key").
    @Test func anUnsetSecretIsOneProblemThatSaysHowToMakeOne() {
        let issues = TestSystems.issues(#"{"components": {"auth": {"type": "auth", "keys": [{"alg": "HS256", "secret": {"$env": "SB_TEST_NO_SUCH_SECRET"}}]}}}"#,
                                        registry: WebHarness.registry).map(\.description)
        #expect(issues == ["components.auth.keys[0].secret: environment variable SB_TEST_NO_SUCH_SECRET is not set (a secret: make one with `openssl rand -hex 32` and export SB_TEST_NO_SUCH_SECRET=<it>)"])
        // Nothing written at all is still its own problem.
        let none = TestSystems.issues(#"{"components": {"auth": {"type": "auth"}}}"#, registry: WebHarness.registry).map(\.description)
        #expect(none.count == 1 && none[0].hasPrefix("components.auth.keys: an auth component needs a key"), "\(none)")
        let bare = TestSystems.issues(#"{"components": {"auth": {"type": "auth", "keys": [{"alg": "HS256"}]}}}"#, registry: WebHarness.registry).map(\.description)
        #expect(bare == [#"components.auth.keys[0].secret: an HS256 key needs "secret""#], "\(bare)")
    }

    @Test func roomPatternsMatchLikeGlobs() {
        let p = RoomPatterns(["lobby", "dev-*", "*-ops"])
        #expect(p.allows("lobby") && p.allows("dev-") && p.allows("dev-x") && p.allows("sec-ops"))
        #expect(!p.allows("lobby2") && !p.allows("de") && !p.allows("ops"))
        #expect(RoomPatterns.all.allows("anything") && !RoomPatterns.none.allows("lobby"))
    }
}

/// Private messages and rooms on the streams, with tokens: SSE, WebSocket and history.
@Suite struct PrivateMessageTests {
    static func system(_ path: String) -> String {
        #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 256},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "archive": {"type": "store", "path": "\#(path)", "using": {"source": "fanout"}},
          "http": {"type": "http-server", "port": 0},
          "auth": {"type": "auth", "keys": [{"alg": "HS256", "secret": "\#(AuthTests.secret)"}]},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox", "auth": "auth", "store": "archive"}},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout", "auth": "auth", "history": "archive"}},
          "ws": {"type": "websocket", "allowQueryToken": true, "using": {"server": "http", "source": "fanout", "channel": "inbox", "auth": "auth"}},
          "history": {"type": "history", "using": {"server": "http", "store": "archive", "auth": "auth"}}
        }}
        """#
    }

    static func token(_ who: String, rooms: [String] = ["*"]) async throws -> String {
        try await AuthTests.hs256(AuthTests.claims(sub: who, iss: nil, aud: nil, rooms: rooms))
    }

    /// A WebSocket client that collects message frames until `marker`; `ready` once it is live.
    static func socket(_ url: String, name: String, until marker: String, ready: Latch<Void>) -> Task<[JSONValue], any Error> {
        Task {
            try await FrameLog.exchange(url, sending: [#"{"name": "\#(name)"}"#]) { frame in
                if frame["type"] == "hello" { ready.resolve(.success(())) }
                return frame["type"] == "message" && frame["text"]?.stringValue == marker
            }.filter { $0["type"] == "message" }
        }
    }

    @Test func aPrivateMessageReachesOnlyItsTwoParties() async throws {
        let h = try await WebHarness.start(Self.system(try temporaryDirectory() + "/s.sqlite"))
        defer { Task { await h.stop() } }
        let (alice, bob, carol) = (try await Self.token("alice"), try await Self.token("bob"), try await Self.token("carol"))
        let ws = try await h.url("/ws").replacingOccurrences(of: "http://", with: "ws://")
        var sse: [String: SSEReader] = [:]
        for (who, t) in [("alice", alice), ("bob", bob), ("carol", carol)] {
            sse[who] = try await SSEReader(try await h.url("/events"), headers: [("Authorization", "Bearer \(t)")])
        }
        let bobReady = Latch<Void>(), carolReady = Latch<Void>()
        let bobSocket = Self.socket(ws + "?token=\(bob)", name: "bob", until: "after", ready: bobReady)
        let carolSocket = Self.socket(ws + "?token=\(carol)", name: "carol", until: "after", ready: carolReady)
        try await bobReady.wait()
        try await carolReady.wait()

        let post = { (token: String, body: String) in
            try await h.request(.POST, "/messages", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)")], body: body)
        }
        #expect(try await post(alice, #"{"text": "psst bob", "to": "bob"}"#).status == 202)
        #expect(try await post(alice, #"{"text": "after"}"#).status == 202)

        func texts(_ reader: SSEReader) async throws -> [String] {
            var out: [String] = []
            while let e = try await reader.next() {
                let text = (try JSONParser.parse(e.data).value)["text"]?.stringValue ?? ""
                out.append(text)
                if text == "after" { return out }
            }
            return out
        }
        #expect(try await texts(sse["alice"]!) == ["psst bob", "after"], "the sender sees her own")
        #expect(try await texts(sse["bob"]!) == ["psst bob", "after"])
        #expect(try await texts(sse["carol"]!) == ["after"], "carol gets nothing")
        #expect(try await bobSocket.value.compactMap { $0["text"]?.stringValue } == ["psst bob", "after"])
        #expect(try await carolSocket.value.compactMap { $0["text"]?.stringValue } == ["after"])
        #expect(try await bobSocket.value.first?["to"] == "bob")

        func history(_ token: String) async throws -> [String] {
            let r = try await h.request(.GET, "/history?room=lobby", headers: [("Authorization", "Bearer \(token)")])
            return (try JSONParser.parse(r.body).value)["messages"]?.arrayValue?.compactMap { $0["text"]?.stringValue } ?? []
        }
        #expect(try await history(carol) == ["after"], "carol's history lacks it")
        #expect(try await history(bob) == ["after", "psst bob"])
        #expect(try await history(alice) == ["after", "psst bob"])
    }

    @Test func aForbiddenRoomIs403OnEveryTransport() async throws {
        let h = try await WebHarness.start(Self.system(try temporaryDirectory() + "/s.sqlite"))
        defer { Task { await h.stop() } }
        let dana = try await Self.token("dana", rooms: ["lobby"])
        let bearer = [("Authorization", "Bearer \(dana)")]
        #expect(try await SSEReader(try await h.url("/events?room=secret"), headers: bearer).status == 403)
        #expect(try await SSEReader(try await h.url("/events?room=lobby"), headers: bearer).status == 200)
        #expect(try await SSEReader(try await h.url("/events?room=lobby")).status == 401)
        #expect(try await h.request(.GET, "/history?room=secret", headers: bearer).status == 403)
        #expect(try await h.request(.GET, "/history", headers: bearer).status == 403, "a token without every room names a room")
        #expect(try await h.request(.POST, "/messages", headers: bearer + [("Content-Type", "application/json")], body: #"{"text": "x", "room": "secret"}"#).status == 403)
        let ws = try await h.url("/ws").replacingOccurrences(of: "http://", with: "ws://")
        // The WebSocket handshake is refused; the same request without the upgrade says why.
        await #expect(throws: (any Error).self) { _ = try await FrameLog.exchange(ws + "?room=secret&token=\(dana)") { _ in true } }
        #expect(try await h.request(.GET, "/ws?room=secret&token=\(dana)").status == 403)
        await #expect(throws: (any Error).self) { _ = try await FrameLog.exchange(ws + "?token=forged") { _ in true } }
        let bad = try await h.request(.GET, "/ws?token=forged")
        #expect(bad.status == 401)
        #expect((try JSONParser.parse(bad.body).value)["reason"] == "malformed")
        #expect(try await h.request(.GET, "/ws?token=\(dana)").status == 426)
        let publishing = try await FrameLog.exchange(ws + "?token=\(dana)", sending: [#"{"text": "x", "room": "secret"}"#]) { $0["type"] == "error" }
        #expect(publishing.last?["reason"] == "forbiddenRoom")
    }
}

/// Rate limits per user (per address without auth): a token bucket on publish and WebSocket.
@Suite struct RateLimitTests {
    @Test func the41stMessageOfABurstIs429WithARetryAfterThatIsHonoured() async throws {
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 256},
              "http": {"type": "http-server", "port": 0},
              "auth": {"type": "auth", "keys": [{"alg": "HS256", "secret": "\#(AuthTests.secret)"}]},
              "publish": {"type": "publish", "rateLimit": {"messages": 20, "per": "10s", "burst": 40}, "using": {"server": "http", "channel": "inbox", "auth": "auth"}}
            }}
            """#)
        defer { Task { await h.stop() } }
        let alice = try await PrivateMessageTests.token("alice"), bob = try await PrivateMessageTests.token("bob")
        func post(_ token: String) async throws -> (status: Int, retryAfter: String?) {
            let r = try await h.request(.POST, "/messages", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)")], body: #"{"text": "x"}"#)
            return (r.status, r.headers.first(name: "Retry-After"))
        }
        // A burst of 40 goes through; the bucket refills at 2 a second, so on a loaded machine
        // a few more may, until the first 429 (on an idle one, the 41st).
        let started = ContinuousClock.now
        var accepted = 0
        var limited: (status: Int, retryAfter: String?) = (0, nil)
        while accepted < 400 {
            let r = try await post(alice)
            if r.status != 202 { limited = r; break }
            accepted += 1
        }
        let refilled = Int(((ContinuousClock.now - started).milliseconds / 1000 * 2).rounded(.up))
        #expect(accepted >= 40 && accepted <= 40 + refilled, "accepted \(accepted), refilled at most \(refilled)")
        #expect(limited.status == 429)
        let wait = try #require(limited.retryAfter.flatMap(Int.init))
        #expect(wait == 1)
        #expect(try await post(bob).status == 202, "the limit is per user")
        // Honouring Retry-After is the scenario: one token comes back every 0.5 s.
        try await Task.sleep(for: .seconds(wait))
        #expect(try await post(alice).status == 202)
        let figures = try await h.map.inspect("publish")["figures"]?["rateLimit"]
        #expect(figures?["limited"] == 1)
    }

    @Test func aWebSocketOverItsLimitGetsAnErrorFrameAndStays() async throws {
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 256},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "ws": {"type": "websocket", "rateLimit": {"messages": 1, "per": "1h", "burst": 2}, "using": {"server": "http", "source": "fanout", "channel": "inbox"}}
            }}
            """#)
        defer { Task { await h.stop() } }
        let url = try await h.url("/ws?name=cy").replacingOccurrences(of: "http://", with: "ws://")
        let frames = try await FrameLog.exchange(url, sending: [#"{"text": "1"}"#, #"{"text": "2"}"#, #"{"text": "3"}"#, #"{"name": "cy"}"#]) { $0["type"] == "hello" }
        let replies = frames.filter { $0["type"] != "message" }
        #expect(replies.map { $0["type"]?.stringValue ?? "" } == ["ack", "ack", "error", "hello"])
        #expect(replies[2]["status"] == 429)
        #expect(replies[2]["reason"] == "rateLimited")
    }
}

/// Who is connected: joins and leaves as clients connect and hang up, one count per user.
@Suite struct PresenceTests {
    /// Presence over both streaming endpoints, open (names from `?name=`).
    static let system = #"""
        {"components": {
          "inbox": {"type": "channel", "buffer": 64},
          "fanout": {"type": "mult", "using": {"source": "inbox"}},
          "http": {"type": "http-server", "port": 0},
          "presence": {"type": "presence", "using": {"server": "http"}},
          "events": {"type": "sse", "presenceEvents": true, "using": {"server": "http", "source": "fanout", "presence": "presence"}},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox", "presence": "presence"}}
        }}
        """#

    @Test func joinsAndLeavesCountEachUserOnce() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        func online() async throws -> [String] {
            let r = try await h.request(.GET, "/presence?room=lobby")
            return (try JSONParser.parse(r.body).value)["online"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        func change(_ reader: SSEReader) async throws -> (String, String, [String]) {
            let e = try #require(try await reader.next(named: "presence"))
            let v = try JSONParser.parse(e.data).value
            return (v["event"]?.stringValue ?? "", v["user"]?.stringValue ?? "", v["online"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        }
        let observer = try await SSEReader(try await h.url("/events?room=lobby&name=obs"))
        #expect(try await change(observer) == ("join", "obs", ["obs"]))

        // bob on SSE (curl, so that the test can hang up) and on a WebSocket: one join.
        let bobSSE = try LiveProcess("/usr/bin/curl", ["-sN", try await h.url("/events?name=bob")])
        #expect(try await change(observer) == ("join", "bob", ["bob", "obs"]))
        let ws = try await h.url("/ws?name=bob").replacingOccurrences(of: "http://", with: "ws://")
        let presence = try await h.component("presence", as: PresenceComponent.self)
        let whileBoth = Mutex<Int?>(nil)
        _ = try await FrameLog.exchange(ws, sending: [#"{"name": "bob"}"#]) { frame in
            guard frame["type"] == "hello" else { return false }
            whileBoth.withLock { $0 = presence.connections(in: "lobby") }
            return true
        }
        #expect(whileBoth.withLock { $0 } == 3, "obs, and bob twice")
        // The WebSocket came and went while SSE held on: still one bob, no leave.
        #expect(try await online() == ["bob", "obs"])
        bobSSE.terminate()
        #expect(try await change(observer) == ("leave", "bob", ["obs"]))
        #expect(try await online() == ["obs"])
        let (text, _) = try await h.component("presence", as: PresenceComponent.self).console(["lobby"])
        #expect(text == "lobby: obs")
    }

    /// `?presence=ROOM`: a stream of every room (the page, counting what is unread elsewhere)
    /// is counted in the room its client is looking at, not in the default room.
    @Test func aStreamOfEveryRoomIsCountedInItsPresenceRoom() async throws {
        let h = try await WebHarness.start(Self.system)
        defer { Task { await h.stop() } }
        let presence = try await h.component("presence", as: PresenceComponent.self)
        let ann = try await SSEReader(try await h.url("/events?name=ann&presence=dev"))
        let joined = try JSONParser.parse(try #require(try await ann.next(named: "presence")).data).value
        #expect(joined["room"] == "dev" && joined["user"] == "ann", "\(joined)")
        #expect(presence.online("dev") == ["ann"])
        #expect(presence.online("lobby") == [])
        let ws = try await h.url("/ws?name=bob&presence=dev").replacingOccurrences(of: "http://", with: "ws://")
        let whileOpen = Mutex<[String]>([])
        _ = try await FrameLog.exchange(ws, sending: [#"{"name": "bob"}"#]) { frame in
            guard frame["type"] == "hello" else { return false }
            whileOpen.withLock { $0 = presence.online("dev") }
            return true
        }
        #expect(whileOpen.withLock { $0 } == ["ann", "bob"])
        // ann's stream reads every room: bob's join in dev reached her.
        let bobs = try JSONParser.parse(try #require(try await ann.next(named: "presence")).data).value
        #expect(bobs["room"] == "dev" && bobs["user"] == "bob", "\(bobs)")
    }
}

/// Presence events for the backend: joins, leaves and an emptied room become messages on the
/// presence component's `events` channel, and from there reach a webhook-out target.
@Suite struct PresenceEventsTests {
    @Test func joinLeaveAndRoomEmptyReachAWebhookTarget() async throws {
        let receiver = try await Receiver.start()
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 64},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "comings": {"type": "channel", "buffer": 64},
              "comings-out": {"type": "mult", "using": {"source": "comings"}},
              "presence": {"type": "presence", "using": {"events": "comings"}},
              "events": {"type": "sse", "using": {"server": "http", "source": "fanout", "presence": "presence"}},
              "hook": {"type": "webhook-out", "using": {"source": "comings-out"},
                       "targets": [{"name": "backend", "url": "\#(try await receiver.url())", "secret": "\#(WebhookOutTests.secret)",
                                    "concurrency": 1}]}
            }}
            """#)
        defer { Task { await h.stop(); await receiver.stop() } }
        let carla = try LiveProcess("/usr/bin/curl", ["-sN", try await h.url("/events?name=carla&room=ops")])
        await waitUntil("carla's join at the receiver") { receiver.all.count >= 1 }
        carla.terminate()
        await waitUntil("her leave and the empty room") { receiver.all.count >= 3 }
        let bodies = try receiver.all.map { try JSONParser.parse($0.body).value }
        #expect(bodies.map { $0["data"]?["event"]?.stringValue } == ["join", "leave", "room-empty"], "\(bodies)")
        #expect(bodies.map { $0["text"]?.stringValue } == ["carla joined ops", "carla left ops", "ops is empty"])
        #expect(bodies[0]["from"] == "presence" && bodies[0]["room"] == "ops")
        #expect(bodies[0]["data"]?["user"] == "carla" && bodies[0]["data"]?["online"] == ["carla"])
        #expect(bodies[2]["data"]?["user"] == .null && bodies[2]["data"]?["online"] == [])
        #expect(bodies[0]["data"]?["instance"]?.stringValue?.isEmpty == false && bodies[0]["data"]?["time"] != nil)
        let figures = try #require(try await h.map.inspect("presence")["figures"])
        #expect(figures["eventsPut"] == 3 && figures["eventsDropped"] == 0, "\(figures)")
    }
}

/// Presence follows the rules of messages: a token is counted, and hears joins and leaves,
/// only in the rooms it may read.
@Suite struct PresenceRoomRuleTests {
    @Test func aTokenIsCountedAndToldOnlyInItsOwnRooms() async throws {
        let h = try await WebHarness.start(#"""
            {"components": {
              "inbox": {"type": "channel", "buffer": 64},
              "fanout": {"type": "mult", "using": {"source": "inbox"}},
              "http": {"type": "http-server", "port": 0},
              "auth": {"type": "auth", "keys": [{"alg": "HS256", "secret": "\#(AuthTests.secret)"}]},
              "presence": {"type": "presence", "using": {"server": "http", "auth": "auth"}},
              "events": {"type": "sse", "presenceEvents": true, "using": {"server": "http", "source": "fanout", "presence": "presence", "auth": "auth"}},
              "ws": {"type": "websocket", "presenceEvents": true, "allowQueryToken": true, "using": {"server": "http", "source": "fanout", "channel": "inbox", "presence": "presence", "auth": "auth"}}
            }}
            """#)
        defer { Task { await h.stop() } }
        let presence = try await h.component("presence", as: PresenceComponent.self)
        let dave = try await PrivateMessageTests.token("dave", rooms: ["dev-*"])
        let (alice, carol) = (try await PrivateMessageTests.token("alice"), try await PrivateMessageTests.token("carol"))
        func bearer(_ t: String) -> [(String, String)] { [("Authorization", "Bearer \(t)")] }

        // dave opens a stream without ?room=: not counted in the default room he may not read.
        let daves = try await SSEReader(try await h.url("/events"), headers: bearer(dave))
        #expect(daves.status == 200)
        let ws = try await h.url("/ws").replacingOccurrences(of: "http://", with: "ws://")
        _ = try await FrameLog.exchange(ws + "?token=\(dave)", sending: [#"{"name": "dave"}"#]) { $0["type"] == "hello" }
        #expect(presence.connections(in: "lobby") == 0)
        #expect(try await h.request(.GET, "/presence?room=lobby", headers: bearer(dave)).status == 403)
        // Nor can he ask to be counted there (?presence=), on either transport.
        let asked = try await h.request(.GET, "/events?presence=lobby", headers: bearer(dave))
        #expect(asked.status == 403 && asked.body.contains(#""parameter":"presence""#), "\(asked.body)")
        let handshake = try StreamTakeoverTests.Wire(try await StreamTakeoverTests.port(h))
        handshake.send("GET /ws?presence=lobby&token=\(dave) HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(await handshake.read { $0.contains("\r\n\r\n") })
        #expect(handshake.text.hasPrefix("HTTP/1.1 403"), "\(handshake.text)")
        #expect(presence.connections(in: "lobby") == 0)

        // alice joins the lobby, then carol dev-1: the first presence event dave hears is carol's.
        let alices = try await SSEReader(try await h.url("/events?room=lobby"), headers: bearer(alice))
        #expect(alices.status == 200)
        let carols = try await SSEReader(try await h.url("/events?room=dev-1"), headers: bearer(carol))
        #expect(carols.status == 200)
        let first = try JSONParser.parse(try #require(try await daves.next(named: "presence")).data).value
        #expect(first["room"] == "dev-1" && first["user"] == "carol", "\(first)")
        #expect(presence.online("lobby") == ["alice"])
    }
}

/// Publish and WebSocket messages go through one intake: the same checks in the same order
/// (sender, room, length, rate) and the same counts.
@Suite struct IntakeOrderTests {
    @Test func aForbiddenRoomIsRefusedBeforeTheLengthOnBothTransports() async throws {
        let h = try await WebHarness.start(PrivateMessageTests.system(try temporaryDirectory() + "/s.sqlite"))
        defer { Task { await h.stop() } }
        let dana = try await PrivateMessageTests.token("dana", rooms: ["lobby"])
        let long = String(repeating: "x", count: 20_000)
        let post = try await h.request(.POST, "/messages", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(dana)")],
                                       body: #"{"text": "\#(long)", "room": "secret"}"#)
        #expect(post.status == 403 && post.body.contains("forbiddenRoom"), "\(post.status)")
        let tooLong = try await h.request(.POST, "/messages", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(dana)")],
                                          body: #"{"text": "\#(long)"}"#)
        #expect(tooLong.status == 413)
        let ws = try await h.url("/ws?token=\(dana)").replacingOccurrences(of: "http://", with: "ws://")
        let frames = try await FrameLog.exchange(ws, sending: [#"{"text": "\#(long)", "room": "secret"}"#]) { $0["type"] == "error" }
        #expect(frames.last?["reason"] == "forbiddenRoom")
        let counts = try #require(try await h.map.inspect("publish")["figures"]?["counts"])
        #expect(counts["forbidden"] == 1 && counts["rejected"] == 1, "\(counts)")
    }
}
