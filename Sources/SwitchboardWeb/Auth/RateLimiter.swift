import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard
import Synchronization

/// A token bucket per sender (the user with auth, the client's address without): `rateLimit:
/// {"messages": 20, "per": "10s", "burst": 40}` lets a sender publish `burst` at once and then
/// `messages` every `per`. Shared by publish, WebSocket messages and webhook-in.
final class RateLimiter: Sendable {
    struct Config: Equatable {
        var messages: Int
        var per: Duration
        var burst: Int

        /// Reads `rateLimit`; nil when absent.
        static func read(_ c: ConfigReader) -> Config? {
            guard let r = c.object("rateLimit") else { return nil }
            let messages = r.int("messages", default: 20, in: 1...1_000_000)
            let per = r.duration("per", default: .seconds(10), in: .milliseconds(1)...(.seconds(86_400)))
            let burst = r.int("burst", default: messages, in: 1...10_000_000)
            return Config(messages: messages, per: per, burst: burst)
        }

        var json: JSONValue { ["messages": .int(messages), "per": .string(per.short), "burst": .int(burst)] }
    }

    private struct Bucket {
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
        var limited = 0
        var lastSweep = ContinuousClock.now
    }

    let config: Config
    private let state = Mutex(State())
    /// Tokens per second.
    private var rate: Double { Double(config.messages) / (config.per.milliseconds / 1000) }

    init(_ config: Config) {
        self.config = config
    }

    /// Takes one token for `key`: nil when there was one, else how long until there is.
    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Duration? {
        let rate = rate, burst = Double(config.burst)
        return state.withLock { s in
            var b = s.buckets[key] ?? Bucket(tokens: burst, at: now)
            b.tokens = min(burst, b.tokens + (now - b.at).milliseconds / 1000 * rate)
            b.at = now
            defer { s.buckets[key] = b }
            // Full buckets of senders gone quiet are forgotten, now and then.
            if now - s.lastSweep > .seconds(60) {
                s.lastSweep = now
                s.buckets = s.buckets.filter { $0.value.tokens + (now - $0.value.at).milliseconds / 1000 * rate < burst }
            }
            if b.tokens >= 1 {
                b.tokens -= 1
                return nil
            }
            s.limited += 1
            return .milliseconds(Int64(((1 - b.tokens) / rate * 1000).rounded(.up)))
        }
    }

    /// Messages refused so far, and senders tracked now.
    var figures: JSONValue {
        let (limited, senders) = state.withLock { ($0.limited, $0.buckets.count) }
        return ["limit": config.json, "limited": .int(limited), "senders": .int(senders)]
    }
}

extension JSONAnswer {
    /// 429 with `Retry-After` (whole seconds, at least 1) and the reason.
    static func rateLimited(_ wait: Duration, _ limit: RateLimiter.Config) -> Self {
        var h = HTTPFields()
        let seconds = max(1, wait.retryAfterSeconds)
        h[.retryAfter] = "\(seconds)"
        return .error(.tooManyRequests, "more than \(limit.messages) messages per \(limit.per.short) (burst \(limit.burst)): try again in \(seconds)s",
                      ["reason": "rateLimited", "retryAfter": .int(seconds)], headers: h)
    }
}

extension Channel {
    /// The client's address, the key of its rate limit when no token names it.
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}

extension Duration {
    /// Whole seconds, rounded up (for `Retry-After`).
    var retryAfterSeconds: Int {
        let (s, atto) = components
        return Int(s) + (atto > 0 ? 1 : 0)
    }
}
