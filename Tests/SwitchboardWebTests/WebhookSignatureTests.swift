import Foundation
import SwitchboardWeb
import Testing

/// The Standard Webhooks reference vectors (from the spec's own libraries' tests) and their
/// tampered, stale and malformed variants; GitHub's documented example.
@Suite struct WebhookSignatureTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let payload = Array(#"{"test": 2432232314}"#.utf8)

    let signer = try! StandardWebhookSigner(secret: secret)

    func headers(at date: Date = Date()) -> (id: String, ts: String, sig: String) {
        let ts = Int(date.timeIntervalSince1970)
        return (Self.id, String(ts), signer.sign(id: Self.id, timestamp: ts, body: Self.payload))
    }

    @Test func signsLikeTheReferenceLibraries() {
        #expect(signer.sign(id: Self.id, timestamp: 1_614_265_330, body: Self.payload) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func verifiesAValidSignatureWithOrWithoutThePrefix() throws {
        let h = headers()
        try signer.verify(id: h.id, timestamp: h.ts, signature: h.sig, body: Self.payload)
        let bare = try StandardWebhookSigner(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        try bare.verify(id: h.id, timestamp: h.ts, signature: h.sig, body: Self.payload)
    }

    @Test func acceptsAnyOfSeveralSignatures() throws {
        let h = headers()
        let several = ["v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", h.sig,
                       "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="].joined(separator: " ")
        try signer.verify(id: h.id, timestamp: h.ts, signature: several, body: Self.payload)
    }

    @Test func refusesTamperedBodiesAndIds() {
        let h = headers()
        #expect(throws: StandardWebhookSigner.Rejection.noValidSignature) {
            try signer.verify(id: h.id, timestamp: h.ts, signature: h.sig, body: Array(#"{"test": 2432232315}"#.utf8))
        }
        #expect(throws: StandardWebhookSigner.Rejection.noValidSignature) {
            try signer.verify(id: "msg_other", timestamp: h.ts, signature: h.sig, body: Self.payload)
        }
        #expect(throws: StandardWebhookSigner.Rejection.noValidSignature) {
            try signer.verify(id: h.id, timestamp: h.ts, signature: "v1,dawfeoifkpqwoekfpqoekf", body: Self.payload)
        }
        #expect(throws: StandardWebhookSigner.Rejection.noValidSignature) {
            try signer.verify(id: h.id, timestamp: h.ts, signature: String(h.sig.prefix(8)), body: Self.payload)
        }
        #expect(throws: StandardWebhookSigner.Rejection.noValidSignature) {
            try signer.verify(id: h.id, timestamp: h.ts, signature: "v1,", body: Self.payload)
        }
    }

    @Test func refusesStaleAndFutureTimestamps() {
        let old = headers(at: Date().addingTimeInterval(-301))
        #expect(throws: StandardWebhookSigner.Rejection.outsideTolerance) {
            try signer.verify(id: old.id, timestamp: old.ts, signature: old.sig, body: Self.payload)
        }
        let future = headers(at: Date().addingTimeInterval(301))
        #expect(throws: StandardWebhookSigner.Rejection.outsideTolerance) {
            try signer.verify(id: future.id, timestamp: future.ts, signature: future.sig, body: Self.payload)
        }
    }

    @Test func refusesMissingAndMalformedHeaders() {
        let h = headers()
        #expect(throws: StandardWebhookSigner.Rejection.missingHeader("webhook-id")) {
            try signer.verify(id: nil, timestamp: h.ts, signature: h.sig, body: Self.payload)
        }
        #expect(throws: StandardWebhookSigner.Rejection.missingHeader("webhook-timestamp")) {
            try signer.verify(id: h.id, timestamp: nil, signature: h.sig, body: Self.payload)
        }
        #expect(throws: StandardWebhookSigner.Rejection.missingHeader("webhook-signature")) {
            try signer.verify(id: h.id, timestamp: h.ts, signature: nil, body: Self.payload)
        }
        #expect(throws: StandardWebhookSigner.Rejection.badTimestamp) {
            try signer.verify(id: h.id, timestamp: "hello", signature: h.sig, body: Self.payload)
        }
        #expect(throws: StandardWebhookSigner.BadSecret.self) { try StandardWebhookSigner(secret: "whsec_not base64!") }
    }

    @Test func checksGitHubSignatures() {
        // GitHub's documented example (docs: "Validating webhook deliveries").
        let github = GitHubSignature(secret: "It's a Secret to Everybody")
        let body = Array("Hello, World!".utf8)
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(github.sign(body: body) == expected)
        #expect(github.isValid(header: expected, body: body))
        #expect(!github.isValid(header: expected, body: Array("Hello, World?".utf8)))
        #expect(!github.isValid(header: "sha1=757107ea", body: body))
        #expect(!github.isValid(header: "sha256=zz", body: body))
        #expect(!github.isValid(header: nil, body: body))
    }
}
