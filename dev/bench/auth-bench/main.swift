// What identity costs, in one process, release build:
//
//   swift run -c release auth-bench [--tokens 20000]
//
// The auth component's check of one token (what publish does per request, and sse and
// websocket per connection): HS256 and ES256, median of 5 rounds; an API key for comparison.
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
let claims = Claims(sub: SubjectClaim(value: "alice"), exp: ExpirationClaim(value: Date().addingTimeInterval(3600)), rooms: ["lobby", "dev-*"])
let hs = try await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256).sign(claims)
let es = try await JWTKeyCollection().add(ecdsa: ec, kid: "ec").sign(claims, kid: "ec")
let n = option("--tokens", 20_000)
print("| check | µs per token (median of 5 rounds of \(n)) |")
print("|---|---|")
for (name, credential) in [("HS256 token", hs), ("ES256 token", es), ("API key", "bench-api-key-0123456789")] {
    var rounds: [Double] = []
    for _ in 0..<5 {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<n { _ = try await auth.identify(credential) }
        let d = clock.now - start
        rounds.append((Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12) / Double(n))
    }
    print("| \(name) | \(String(format: "%.2f", rounds.sorted()[2])) |")
}
await map.stop()
