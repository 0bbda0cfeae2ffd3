import _CryptoExtras
import Foundation
import JWTKit
import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import SwitchboardWeb
import Testing

/// Tokens on the publish endpoint: real JWTs signed with jwt-kit, refused by reason.
@Suite struct AuthTests {
    static let secret = "a-test-secret-of-at-least-32-bytes!!"
    static let es256 = ES256PrivateKey()
    static let rsa = try! JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))

    struct Claims: JWTPayload {
        var sub: SubjectClaim?
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var rooms: [String]?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func claims(sub: String? = "alice", exp: TimeInterval? = 3600, nbf: TimeInterval? = nil, iss: String? = "https://id.test",
                       aud: String? = "chat", rooms: [String]? = ["lobby", "dev-*"]) -> Claims {
        Claims(sub: sub.map { SubjectClaim(value: $0) }, exp: exp.map { ExpirationClaim(value: Date().addingTimeInterval($0)) },
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
            (try await Self.hs256(Self.claims(iss: "https://elsewhere")), "wrongIssuer"),
            (try await Self.hs256(Self.claims(aud: "other")), "wrongAudience"),
            (try await Self.hs256(Self.claims(sub: nil)), "missingSubject"),
        ]
        for (token, reason) in cases {
            let r = try await post(h, token: token)
            #expect(r.status == 401, "\(reason): \(r.body)")
            #expect(r.reason == reason, "\(r.body)")
        }
        // Expired within the leeway is still good.
        #expect(try await post(h, token: try await Self.hs256(Self.claims(exp: -2))).status == 202)
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
    }

    @Test func roomPatternsMatchLikeGlobs() {
        let p = RoomPatterns(["lobby", "dev-*", "*-ops"])
        #expect(p.allows("lobby") && p.allows("dev-") && p.allows("dev-x") && p.allows("sec-ops"))
        #expect(!p.allows("lobby2") && !p.allows("de") && !p.allows("ops"))
        #expect(RoomPatterns.all.allows("anything") && !RoomPatterns.none.allows("lobby"))
    }
}
