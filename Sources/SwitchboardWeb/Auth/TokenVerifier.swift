import Foundation
import JWTKit
import Switchboard

/// Who a verified token (or API key) says the user is, and where they may go.
public struct Identity: Sendable, Equatable {
    /// Until when the token is good (its `exp` plus the leeway); nil for an API key.
    var goodUntil: Date? = nil
    /// The user's name (the token's `sub`): what their messages are `from`.
    public let name: String
    /// Rooms they may publish to.
    public let publish: RoomPatterns
    /// Rooms they may read.
    public let subscribe: RoomPatterns
}

/// Why a token was refused; every reason is a 401.
public struct AuthFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Failures are equal by reason (the detail is for people).
    public static func == (a: AuthFailure, b: AuthFailure) -> Bool { a.reason == b.reason }

    /// Why a token or key was refused (the `reason` of a 401 answer).
    public enum Reason: String, Sendable {
        case missingToken, malformed, algorithmNone, algorithmMismatch, unknownKey, badSignature
        case missingExpiry, expired, notYetValid, wrongIssuer, wrongAudience, missingSubject
        /// `iat` is later than now (beyond the leeway): a clock gone wrong, or a forged token.
        case issuedInFuture
        /// `exp` is further than the auth component's `maxLifetime` after `iat` (or now).
        case lifetimeTooLong
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { detail }
}

/// The claims Switchboard reads; the checks are made by `TokenVerifier`, by reason.
struct ChatClaims: JWTPayload {
    var sub: SubjectClaim?
    var exp: ExpirationClaim?
    var iat: IssuedAtClaim?
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var rooms: [String]?
    var publish: [String]?
    var subscribe: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Verifies JWTs with jwt-kit against configured keys: the header's `alg` must be the key's
/// (`none` and algorithm confusion are refused before any signature is checked), `exp` is
/// required and at most `maxLifetime` after `iat` (or now), `iat` must not be in the future,
/// `nbf`, `iss` and `aud` are checked; every time with `leeway`.
struct TokenVerifier: Sendable {
    /// A verification key and the one algorithm it is for.
    struct Key: Sendable {
        let alg: String
        let kid: String?
    }

    let keys: JWTKeyCollection
    let known: [Key]
    let issuer: String?
    let audience: String?
    let leeway: Duration
    /// The longest a token may be good for, from its `iat` (or from now without one).
    var maxLifetime: Duration = .seconds(30 * 86_400)

    func verify(_ token: String, now: Date = Date()) async throws(AuthFailure) -> Identity {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.header(parts[0]) else {
            throw AuthFailure(.malformed, "the token is not a JWT (header.payload.signature)")
        }
        let alg = header["alg"]?.stringValue ?? ""
        if alg.lowercased() == "none" || alg.isEmpty { throw AuthFailure(.algorithmNone, "unsigned tokens (alg none) are refused") }
        let kid = header["kid"]?.stringValue
        guard let key = kid.map({ k in known.first { $0.kid == k } }) ?? known.first(where: { $0.kid == nil }) else {
            throw AuthFailure(.unknownKey, kid.map { "no key with kid \"\($0)\"" } ?? "the token names no key (kid) and there is no default key")
        }
        guard key.alg == alg else { throw AuthFailure(.algorithmMismatch, "the token is signed with \(alg); its key is for \(key.alg)") }
        let claims: ChatClaims
        do {
            claims = try await keys.verify(token, as: ChatClaims.self)
        } catch let e as JWTError where e.errorType == .signatureVerificationFailed {
            throw AuthFailure(.badSignature, "the signature does not match")
        } catch {
            throw AuthFailure(.malformed, "the token cannot be read")
        }
        let slack = leeway.milliseconds / 1000
        guard let exp = claims.exp else { throw AuthFailure(.missingExpiry, "the token has no expiry (exp)") }
        if exp.value.addingTimeInterval(slack) < now { throw AuthFailure(.expired, "the token expired at \(LifecycleEvent.timestamp(exp.value))") }
        if let iat = claims.iat, iat.value.addingTimeInterval(-slack) > now {
            throw AuthFailure(.issuedInFuture, "the token is issued in the future (iat \(LifecycleEvent.timestamp(iat.value)))")
        }
        let issued = claims.iat?.value ?? now
        if exp.value.timeIntervalSince(issued) > maxLifetime.milliseconds / 1000 + slack {
            throw AuthFailure(.lifetimeTooLong, "the token is good for longer than this server allows (\(maxLifetime.short) after it was issued)")
        }
        if let nbf = claims.nbf, nbf.value.addingTimeInterval(-slack) > now {
            throw AuthFailure(.notYetValid, "the token is not valid before \(LifecycleEvent.timestamp(nbf.value))")
        }
        if let issuer, claims.iss?.value != issuer { throw AuthFailure(.wrongIssuer, "the token is not from the expected issuer") }
        if let audience, !(claims.aud?.value.contains(audience) ?? false) {
            throw AuthFailure(.wrongAudience, "the token is not for this audience")
        }
        guard let sub = claims.sub?.value, !sub.isEmpty else { throw AuthFailure(.missingSubject, "the token names no user (sub)") }
        return Identity(goodUntil: exp.value.addingTimeInterval(slack), name: sub, publish: RoomPatterns(claims.publish ?? claims.rooms ?? []),
                        subscribe: RoomPatterns(claims.subscribe ?? claims.rooms ?? []))
    }

    /// The decoded header object, if it is one.
    static func header(_ part: Substring) -> JSONObject? {
        var b64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), case .object(let o)? = try? JSONParser.parse(Array(data)).value else { return nil }
        return o
    }
}
