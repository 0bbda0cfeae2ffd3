import Foundation
import Logging
import Switchboard
import SwitchboardCLI
import Testing

/// Random and extreme values in every numeric setting of every component type: `check`
/// refuses them with the setting's path, or accepts them and the system then starts (through
/// a reload of a running system); nothing traps.
@Suite struct ConfigFuzzTests {
    /// Every built-in type, with its nested objects present so their fields are read too.
    static let storePath = NSTemporaryDirectory() + "switchboard-fuzz-\(getpid())/fuzz.sqlite"
    static let everyType = #"""
        {"name": "fuzz", "shutdownTimeout": "10s",
         "admin": {"socket": "/tmp/switchboard-fuzz-never-bound.sock", "idleTimeout": "30m"},
         "components": {
          "inbox": {"type": "channel", "buffer": {"size": 16, "policy": "fixed"}, "transforms": ["emoticons"]},
          "fanout": {"type": "mult", "using": {"source": "inbox"}, "tapDefaults": {"policy": "dropOldest", "capacity": 8}},
          "rooms": {"type": "pub", "using": {"source": "side"}, "defaultBuffer": 8, "buffers": {"lobby": 4}},
          "side": {"type": "channel", "buffer": 8},
          "http": {"type": "http-server", "port": 0, "maxConnections": 100, "requestBodyLimit": 65536,
                   "idleTimeout": "30s", "shutdownGrace": "1s", "cors": {"origins": ["*"], "maxAge": 60}},
          "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox"}, "wait": "1s", "maxBodySize": 4096},
          "events": {"type": "sse", "using": {"server": "http", "source": "fanout"}, "heartbeat": "15s", "history": 10,
                     "retry": 1000, "bufferBytes": 65536, "hubCapacity": 64},
          "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox"},
                 "wait": "1s", "capacity": 16, "maxMessageSize": 4096},
          "hooks": {"type": "webhook-in", "using": {"server": "http", "channel": "inbox"}, "verify": "none",
                    "tolerance": "5m", "maxBodySize": 4096, "wait": "1s"},
          "out": {"type": "webhook-out", "using": {"source": "fanout"}, "buffer": {"capacity": 16},
                  "queueCapacity": 16, "deadLetters": 16,
                  "targets": [{"url": "http://127.0.0.1:9/hook", "timeout": "1s", "concurrency": 2}],
                  "retry": {"schedule": ["1s"], "jitter": 0.1}},
          "page": {"type": "page", "using": {"server": "http"}},
          "archive": {"type": "store", "using": {"source": "fanout"}, "path": "\#(storePath)", "batch": 100, "capacity": 64,
                      "commitTimeout": "2s", "lockTimeout": "1s", "pruneInterval": "10s", "retention": {"maxAge": "7d", "maxMessages": 1000}},
          "history": {"type": "history", "using": {"server": "http", "store": "archive"}, "limit": 20, "maxLimit": 100},
          "health": {"type": "health", "using": {"server": "http"}},
          "metrics": {"type": "metrics", "using": {"server": "http"}}
        }}
        """#

    static let extremes: [JSONValue] = [
        1e300, -1e300, -1, 0, 1.5, .int(Int.max), .int(Int.min), 9.3e18, 1e-300,
        "9999999999999h", "1e300s", "1e300", "-5s", "nan", "infs", "inf", "", "abc", "3650d", "3651d", "0ms",
        true, .null, [], [:],
    ]

    var loader: SystemLoader { SystemLoader(registry: .standard, environment: [:], logger: Self.quiet) }

    static let quiet: Logger = {
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        return logger
    }()

    /// The values tried for one field: the extremes and a few random ones.
    static func values(_ kind: NumericField, _ rng: inout some RandomNumberGenerator) -> [JSONValue] {
        var out = extremes
        for _ in 0..<4 {
            let exponent = Double.random(in: -3...20, using: &rng)
            let n = pow(10, exponent) * (Bool.random(using: &rng) ? 1 : -1)
            out.append(.double(n))
            if abs(n) < 9e18 { out.append(.int(Int(n.rounded()))) }
            if kind == .duration { out.append(.string("\(n)\(["ms", "s", "m", "h", "d"].randomElement(using: &rng)!)")) }
        }
        return out
    }

    @Test func everyNumericFieldIsRangeCheckedAndWhatPassesStarts() async throws {
        let base = try loader.load(text: Self.everyType)
        let fields = base.spec.numericFields.sorted { $0.key < $1.key }
        // Every type's numeric settings are found by the readers themselves, not listed here.
        #expect(fields.count >= 30, "\(fields.map(\.key.description))")
        let map = SystemMap(base, logger: Self.quiet)
        try await map.start()
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for (path, kind) in fields {
            for value in Self.values(kind, &rng) {
                let document = JSONValue.object(base.spec.document).setting(value, at: path)
                do {
                    let built = try loader.load(text: document.jsonText, wiring: map.sharedWiring)
                    // Accepted by check: it must start (here: be applied to the running system).
                    let outcome = await map.reload(to: built)
                    #expect(outcome.ok, "\(path) = \(value.jsonText) passed check but did not start: \(outcome.failure.map { "\($0)" } ?? "")")
                    accepted += 1
                } catch {
                    // At the field, or at a sibling it conflicts with (same object).
                    let object = path.elements.dropLast()
                    #expect(error.issues.contains { $0.path.elements.starts(with: object) },
                            "\(path) = \(value.jsonText) was refused without its path: \(error)")
                }
            }
        }
        #expect(accepted > 0)
        #expect(await map.reload(to: try loader.load(text: Self.everyType, wiring: map.sharedWiring)).ok)
        await map.stop()
    }
}

extension JSONValue {
    /// This value with `value` put at `path` (objects along the way are created).
    func setting(_ value: JSONValue, at path: ConfigPath) -> JSONValue {
        guard let first = path.elements.first else { return value }
        let rest = ConfigPath(Array(path.elements.dropFirst()))
        switch (self, first) {
        case (.object(var o), .key(let k)):
            o[k] = (o[k] ?? .object(JSONObject())).setting(value, at: rest)
            return .object(o)
        case (.array(var a), .index(let i)) where a.indices.contains(i):
            a[i] = a[i].setting(value, at: rest)
            return .array(a)
        default:
            return JSONValue.object(JSONObject()).setting(value, at: path)
        }
    }
}
