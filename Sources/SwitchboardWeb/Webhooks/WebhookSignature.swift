import Crypto
import Foundation

/// Standard Webhooks v1 signatures: HMAC-SHA256 over `id.timestamp.body` with a `whsec_`
/// base64 secret, sent as `webhook-signature: v1,<base64>` (several, space-separated, during
/// key rotation).
public struct StandardWebhookSigner: Sendable {
    /// Why a webhook was not accepted.
    public enum Rejection: Error, Equatable, CustomStringConvertible {
        case missingHeader(String)
        case badTimestamp
        case outsideTolerance
        case noValidSignature
        case tooManySignatures(Int)

        public var description: String {
            switch self {
            case .missingHeader(let h): "missing \(h) header"
            case .badTimestamp: "webhook-timestamp is not a number of seconds"
            case .outsideTolerance: "webhook-timestamp is outside the tolerance window"
            case .noValidSignature: "no signature matches"
            case .tooManySignatures(let n): "webhook-signature holds \(n) signatures; at most \(StandardWebhookSigner.maxSignatures) are checked"
            }
        }
    }

    /// The most signatures one `webhook-signature` header may carry (key rotation needs two or
    /// three); more is refused before any HMAC is computed.
    public static let maxSignatures = 16

    /// The secret is not `whsec_` + base64.
    public struct BadSecret: Error, CustomStringConvertible {
        public var description: String { "a Standard Webhooks secret is base64, usually with a whsec_ prefix" }
    }

    // The key's bytes (swift-crypto's SymmetricKey is not Sendable).
    private let secretBytes: Data
    private var key: SymmetricKey { SymmetricKey(data: secretBytes) }

    /// A signer for `secret` (`whsec_…` or bare base64).
    public init(secret: String) throws(BadSecret) {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else { throw BadSecret() }
        secretBytes = bytes
    }

    /// The `webhook-signature` value for one delivery.
    public func sign(id: String, timestamp: Int, body: some DataProtocol) -> String {
        "v1," + Data(mac(id: id, timestamp: timestamp, body: body)).base64EncodedString()
    }

    private func content(id: String, timestamp: Int, body: some DataProtocol) -> Data {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(contentsOf: body)
        return content
    }

    private func mac(id: String, timestamp: Int, body: some DataProtocol) -> HashedAuthenticationCode<SHA256> {
        HMAC<SHA256>.authenticationCode(for: content(id: id, timestamp: timestamp, body: body), using: key)
    }

    /// Checks the three headers against `body`: the timestamp within `tolerance` of `now`, and
    /// at least one `v1` signature valid (compared in constant time).
    public func verify(id: String?, timestamp: String?, signature: String?, body: some DataProtocol,
                       now: Date = Date(), tolerance: Duration = .seconds(300)) throws(Rejection) {
        guard let id, !id.isEmpty else { throw .missingHeader("webhook-id") }
        guard let timestamp else { throw .missingHeader("webhook-timestamp") }
        guard let signature, !signature.isEmpty else { throw .missingHeader("webhook-signature") }
        guard let seconds = Int(timestamp.trimmingSpaces()) else { throw .badTimestamp }
        let skew = abs(now.timeIntervalSince1970 - Double(seconds))
        guard skew <= tolerance.milliseconds / 1000 else { throw .outsideTolerance }
        let candidates = signature.split(separator: " ")
        guard candidates.count <= Self.maxSignatures else { throw .tooManySignatures(candidates.count) }
        // One HMAC over the body, compared with each candidate in constant time.
        let expected = Data(mac(id: id, timestamp: seconds, body: body))
        var matched = false
        for candidate in candidates {
            let parts = candidate.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let given = Data(base64Encoded: String(parts[1])) else { continue }
            if Self.constantTimeEqual(given, expected) { matched = true }
        }
        if !matched { throw .noValidSignature }
    }
}

extension StandardWebhookSigner {
    /// Whether `a` and `b` are equal, in time that depends on their length only.
    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
public struct GitHubSignature: Sendable {
    private let secretBytes: Data
    private var key: SymmetricKey { SymmetricKey(data: secretBytes) }

    /// A checker for the webhook's secret (the raw string GitHub was given).
    public init(secret: String) {
        secretBytes = Data(secret.utf8)
    }

    /// The header value GitHub would send for `body`.
    public func sign(body: some DataProtocol) -> String {
        "sha256=" + HMAC<SHA256>.authenticationCode(for: Data(body), using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `header` is a valid signature of `body` (constant-time comparison).
    public func isValid(header: String?, body: some DataProtocol) -> Bool {
        guard let header, header.hasPrefix("sha256="), let given = Self.hex(header.dropFirst(7)) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data(body), using: key)
    }

    static func hex(_ s: Substring) -> Data? {
        guard s.count % 2 == 0 else { return nil }
        var out = Data(capacity: s.count / 2)
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            guard let b = UInt8(s[i..<j], radix: 16) else { return nil }
            out.append(b)
            i = j
        }
        return out
    }
}
