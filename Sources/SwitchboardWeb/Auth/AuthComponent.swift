import Crypto
import Foundation
import JWTKit
import Switchboard
import Synchronization

/// The `auth` component: verifies the JWTs (and API keys) of the endpoints that name it in
/// their `auth` slot, once per request or connection, with vapor/jwt-kit.
///
/// ```json
/// "auth": { "type": "auth", "issuer": "https://id.example", "audience": "chat",
///           "keys": [ { "alg": "HS256", "secret": { "$env": "SWITCHBOARD_JWT_SECRET" } },
///                     { "alg": "ES256", "kid": "2026-11", "publicKey": { "$env": "JWT_ES256_PEM" } } ],
///           "apiKeys": [ { "key": { "$env": "CI_BOT_KEY" }, "name": "ci-bot", "rooms": ["builds"] } ] }
/// ```
///
/// A token's `sub` is the user's name; `rooms` (or `publish` and `subscribe`) lists the rooms
/// they may use, with `*` patterns. `exp` is required.
public final class AuthComponent: ConsoleCommands {
    enum ParsedKey: Sendable {
        case hmac(String, DigestAlgorithm)
        case rsa(JWTKit.Insecure.RSA.PublicKey, DigestAlgorithm)
        case ecdsa256(ES256PublicKey), ecdsa384(ES384PublicKey), ecdsa512(ES512PublicKey)
        case eddsa(EdDSA.PublicKey)
    }

    struct APIKey: Sendable {
        let key: String
        let identity: Identity
    }

    private let keys: [(TokenVerifier.Key, ParsedKey)]
    /// A JWKS document's text (from `jwks`, a file), and the keys it names.
    private let jwks: (text: String, keys: [TokenVerifier.Key])?
    private let apiKeys: [APIKey]
    private let issuer: String?
    private let audience: String?
    private let leeway: Duration
    private let maxLifetime: Duration
    /// The cookie a token may come in.
    let cookie: String
    private let verifier = Mutex<TokenVerifier?>(nil)
    /// Tokens verified lately, by their whole text (signature included), until they expire: a
    /// client that sends the same token with every request pays for one verification.
    private let verified = Mutex<[String: Identity]>([:])
    static let verifiedLimit = 10_000

    init(_ context: ComponentContext) {
        let c = context.config
        issuer = c.string("issuer")
        audience = c.string("audience")
        leeway = c.duration("leeway", default: .seconds(30), in: .zero...(.seconds(3600)))
        maxLifetime = c.duration("maxLifetime", default: .seconds(30 * 86_400), in: .seconds(1)...(.seconds(3650 * 86_400)))
        cookie = c.string("cookie", default: "switchboard_token")
        var keys: [(TokenVerifier.Key, ParsedKey)] = []
        let written = c.array("keys") ?? []
        for (path, value) in written {
            guard case .object(let o) = value else { c.issue(.wrongType, at: path, "expected a key object"); continue }
            let k = c.child(o, at: path)
            if let parsed = Self.key(k) { keys.append(parsed) }
        }
        jwks = c.string("jwks").flatMap { Self.readJWKS(c.resolvedPath($0), c) }
        // Keys that were written but failed are reported each at its own path.
        if keys.isEmpty, jwks == nil, written.isEmpty {
            c.issue(.missingField, "keys", "an auth component needs a key: {\"alg\": \"HS256\", \"secret\": {\"$env\": \"…\"}}, or \"jwks\": a JWKS file")
        }
        if keys.filter({ $0.0.kid == nil }).count > 1 { c.issue(.invalidValue, "keys", "only one key may go without a \"kid\"") }
        self.keys = keys
        var apiKeys: [APIKey] = []
        for (path, value) in c.array("apiKeys") ?? [] {
            guard case .object(let o) = value else { c.issue(.wrongType, at: path, "expected {\"key\", \"name\", \"rooms\"}"); continue }
            let k = c.child(o, at: path)
            guard let secret = k.secret("key"), let name = k.string("name") else {
                k.issue(.missingField, nil, "an API key needs \"key\" and \"name\"")
                continue
            }
            let rooms = RoomPatterns(k.strings("rooms") ?? ["*"])
            apiKeys.append(APIKey(key: secret, identity: Identity(name: name, publish: rooms, subscribe: rooms)))
        }
        self.apiKeys = apiKeys
    }

    /// The component type.
    public static let type = ComponentType(
        "auth", summary: "Verifies JWTs (HS256, RS256, ES256, EdDSA) and API keys for the endpoints that name it.",
        console: ConsoleTopic("token", usage: "token --sub NAME [--rooms 'lobby,dev-*'] [--ttl 1h]",
                              summary: "a development token signed with the auth component's HMAC key (a command of the auth type)", runsBare: false)
    ) { AuthComponent($0) }

    /// `token --sub alice --rooms 'lobby,dev-*' --ttl 1h`.
    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        var sub: String?, rooms = ["*"], ttl = Duration.seconds(3600)
        var rest = words[...]
        while let word = rest.popFirst() {
            guard let value = rest.popFirst() else { throw ConsoleCommandError(.usage, "\(word) takes a value") }
            switch word {
            case "--sub": sub = value
            case "--rooms": rooms = value.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
            case "--ttl":
                guard case .success(let d) = ConfigReader.parseDuration(text: value), d > .zero else {
                    throw ConsoleCommandError(.usage, "--ttl takes a duration such as 1h")
                }
                ttl = d
            default: throw ConsoleCommandError(.usage, "unexpected \"\(word)\"")
            }
        }
        guard let sub, !sub.isEmpty else { throw ConsoleCommandError(.usage, "--sub NAME is required") }
        let token = try await mint(sub: sub, rooms: rooms, ttl: ttl)
        return (token, ["token": .string(token), "sub": .string(sub), "rooms": .array(rooms.map(JSONValue.string)), "ttl": .string(ttl.short)])
    }

    /// Reads a JWKS file: every key needs a `kid`, and an `alg` (or a `kty`/`crv` that names one).
    private static func readJWKS(_ path: String, _ c: ConfigReader) -> (text: String, keys: [TokenVerifier.Key])? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            c.issue(.invalidValue, "jwks", "cannot read the JWKS file \(path)")
            return nil
        }
        guard case .object(let doc)? = try? JSONParser.parse(text).value, case .array(let list)? = doc["keys"] else {
            c.issue(.invalidValue, "jwks", "\(path) is not a JWKS document ({\"keys\": [...]})")
            return nil
        }
        var keys: [TokenVerifier.Key] = []
        for (i, k) in list.enumerated() {
            let crv = k["crv"]?.stringValue
            let alg = k["alg"]?.stringValue ?? {
                switch (k["kty"]?.stringValue, crv) {
                case ("RSA"?, _): "RS256"
                case ("EC"?, "P-256"?): "ES256"
                case ("EC"?, "P-384"?): "ES384"
                case ("EC"?, "P-521"?): "ES512"
                case ("OKP"?, "Ed25519"?): "EdDSA"
                default: ""
                }
            }()
            guard let kid = k["kid"]?.stringValue, algorithms.contains(alg) else {
                c.issue(.invalidValue, "jwks", "key \(i) of \(path) needs a kid and an alg (one of \(algorithms.joined(separator: ", ")))")
                return nil
            }
            keys.append(.init(alg: alg, kid: kid))
        }
        return (text, keys)
    }

    static let algorithms = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"]

    /// One entry of `keys`.
    private static func key(_ k: ConfigReader) -> (TokenVerifier.Key, ParsedKey)? {
        let alg = k.oneOf("alg", algorithms, default: "HS256")
        let kid = k.string("kid")
        let digest: DigestAlgorithm = alg.hasSuffix("384") ? .sha384 : alg.hasSuffix("512") ? .sha512 : .sha256
        do {
            if alg.hasPrefix("HS") {
                guard let secret = k.secret("secret") else {
                    // Written but unresolved (an unset $env) is reported where it failed.
                    if !k.has("secret") { k.issue(.missingField, "secret", "an \(alg) key needs \"secret\"") }
                    return nil
                }
                guard secret.utf8.count >= 32 else { k.issue(.invalidValue, "secret", "an \(alg) secret has at least 32 bytes"); return nil }
                return (.init(alg: alg, kid: kid), .hmac(secret, digest))
            }
            guard let pem = k.string("publicKey") else { k.issue(.missingField, "publicKey", "an \(alg) key needs \"publicKey\" (PEM)"); return nil }
            let parsed: ParsedKey =
                switch alg {
                case "RS256", "RS384", "RS512": .rsa(try JWTKit.Insecure.RSA.PublicKey(pem: pem), digest)
                case "ES256": .ecdsa256(try ES256PublicKey(pem: pem))
                case "ES384": .ecdsa384(try ES384PublicKey(pem: pem))
                case "ES512": .ecdsa512(try ES512PublicKey(pem: pem))
                default: .eddsa(try EdDSA.PublicKey(pem: pem))
                }
            return (.init(alg: alg, kid: kid), parsed)
        } catch {
            k.issue(.invalidValue, "publicKey", "not a \(alg) public key in PEM form")
            return nil
        }
    }

    public func start() async throws {
        let collection = JWTKeyCollection()
        for (key, parsed) in keys {
            let kid = key.kid.map { JWKIdentifier(string: $0) }
            switch parsed {
            case .hmac(let secret, let digest): await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: digest, kid: kid)
            case .rsa(let k, let digest): await collection.add(rsa: k, digestAlgorithm: digest, kid: kid)
            case .ecdsa256(let k): await collection.add(ecdsa: k, kid: kid)
            case .ecdsa384(let k): await collection.add(ecdsa: k, kid: kid)
            case .ecdsa512(let k): await collection.add(ecdsa: k, kid: kid)
            case .eddsa(let k): await collection.add(eddsa: k, kid: kid)
            }
        }
        if let jwks {
            do {
                try await collection.add(jwksJSON: jwks.text)
            } catch {
                throw StartFailureReason(description: "the JWKS keys cannot be used: \(error)")
            }
        }
        let ready = TokenVerifier(keys: collection, known: keys.map(\.0) + (jwks?.keys ?? []), issuer: issuer, audience: audience, leeway: leeway,
                                  maxLifetime: maxLifetime)
        verifier.withLock { $0 = ready }
    }

    public func stop() async throws {
        verifier.withLock { $0 = nil }
        verified.withLock { $0.removeAll() }
    }

    /// The identity behind `credential` (a JWT or an API key).
    public func identify(_ credential: String) async throws(AuthFailure) -> Identity {
        for k in apiKeys where Self.equalInConstantTime(k.key, credential) { return k.identity }
        let now = Date()
        if let known = verified.withLock({ $0[credential] }), let until = known.goodUntil, until >= now { return known }
        guard let verifier = verifier.withLock({ $0 }) else { throw AuthFailure(.unknownKey, "the auth component is not running") }
        let identity = try await verifier.verify(credential, now: now)
        // nbf in the future is refused above, so a cached token is good from now until it expires.
        verified.withLock { cache in
            if cache.count >= Self.verifiedLimit { cache.removeAll(keepingCapacity: true) }
            cache[credential] = identity
        }
        return identity
    }

    /// A token for `sub` signed with the HMAC key (for development: `switchboard token`).
    public func mint(sub: String, rooms: [String], ttl: Duration) async throws -> String {
        guard let (key, parsed) = keys.first(where: { if case .hmac = $0.1 { true } else { false } }), case .hmac(let secret, let digest) = parsed else {
            throw AuthFailure(.unknownKey, "minting needs an HS256/HS384/HS512 key")
        }
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: digest, kid: key.kid.map { JWKIdentifier(string: $0) })
        var claims = ChatClaims()
        claims.sub = SubjectClaim(value: sub)
        // Whole seconds: RFC 7519's NumericDate may have a fraction, but strict clients refuse one.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        claims.iat = IssuedAtClaim(value: now)
        claims.exp = ExpirationClaim(value: now.addingTimeInterval((ttl.milliseconds / 1000).rounded(.up)))
        claims.iss = issuer.map { IssuerClaim(value: $0) }
        claims.aud = audience.map { AudienceClaim(value: [$0]) }
        claims.rooms = rooms
        return try await collection.sign(claims, kid: key.kid.map { JWKIdentifier(string: $0) })
    }

    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Why the component cannot start.
    struct StartFailureReason: Error, CustomStringConvertible {
        let description: String
    }

    public func inspect() async -> JSONValue {
        ["keys": .array((keys.map(\.0) + (jwks?.keys ?? [])).map { k in ["alg": .string(k.alg), "kid": k.kid.map(JSONValue.string) ?? .null] }),
         "apiKeys": .array(apiKeys.map { .string($0.identity.name) }), "issuer": issuer.map(JSONValue.string) ?? .null,
         "audience": audience.map(JSONValue.string) ?? .null, "leeway": .string(leeway.short), "maxLifetime": .string(maxLifetime.short)]
    }
}
