// What identity costs, in one process, release build:
//
//   swift run -c release auth-bench [--tokens 20000]
//
// The auth component's check of a token (what publish does per request, and sse and
// websocket per connection): HS256 and ES256 the first time a token is seen (verified) and
// again (remembered until it expires); an API key. Median of 5 rounds; each call includes the
// hop from this top-level code to the component and back (the API key's figure is mostly that).
import Foundation
import JWTKit
import Logging
import Switchboard
import SwitchboardWeb

let args = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}

struct Claims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var rooms: [String]
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

let secret = "auth-bench-secret-of-at-least-32-bytes"
let ec = ES256PrivateKey()
func json(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: "\\n") }
var logger = Logger(label: "bench")
logger.logLevel = .error
var registry = ComponentRegistry()
registry.register(WebComponents.types)
let system = try SystemLoader(registry: registry, environment: [:], logger: logger).load(text: """
    {"components": {"auth": {"type": "auth", "keys": [
      {"alg": "HS256", "secret": "\(secret)"},
      {"alg": "ES256", "kid": "ec", "publicKey": "\(json(ec.publicKey.pemRepresentation))"}],
      "apiKeys": [{"key": "bench-api-key-0123456789", "name": "bot"}]}}}
    """)
let map = SystemMap(system, logger: logger)
try await map.start()
let auth = await map.instance(named: "auth") as! AuthComponent
let n = option("--tokens", 5_000)
let hsKeys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
let ecKeys = await JWTKeyCollection().add(ecdsa: ec, kid: "ec")
func tokens(_ keys: JWTKeyCollection, kid: JWKIdentifier?, round: Int) async throws -> [String] {
    var out: [String] = []
    for i in 0..<n {
        let c = Claims(sub: SubjectClaim(value: "user\(round)-\(i)"), exp: ExpirationClaim(value: Date().addingTimeInterval(3600)), rooms: ["lobby", "dev-*"])
        out.append(try await keys.sign(c, kid: kid))
    }
    return out
}
func measure(_ credentials: [String]) async throws -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    for c in credentials { _ = try await auth.identify(c) }
    let d = clock.now - start
    return (Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12) / Double(credentials.count)
}
print("| check | µs per call (median of 5 rounds of \(n)) |")
print("|---|---|")
for (name, keys, kid) in [("HS256", hsKeys, nil), ("ES256", ecKeys, JWKIdentifier(string: "ec"))] as [(String, JWTKeyCollection, JWKIdentifier?)] {
    var first: [Double] = [], again: [Double] = []
    for round in 0..<5 {
        let fresh = try await tokens(keys, kid: kid, round: round)
        first.append(try await measure(fresh))
        again.append(try await measure(fresh))
    }
    print("| \(name) token, first check (verified) | \(String(format: "%.2f", first.sorted()[2])) |")
    print("| \(name) token, again (remembered) | \(String(format: "%.2f", again.sorted()[2])) |")
}
var key: [Double] = []
for _ in 0..<5 { key.append(try await measure(Array(repeating: "bench-api-key-0123456789", count: n))) }
print("| API key | \(String(format: "%.2f", key.sorted()[2])) |")
await map.stop()
