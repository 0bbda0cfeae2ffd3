import Foundation
import Switchboard
import SwitchboardChannels

/// One receiver of outbound webhooks.
struct WebhookTarget: Sendable, Equatable {
    var name: String
    var url: String
    var secret: String?
    var timeout: Duration
    var concurrency: Int
    var headers: [String: String]
    /// Whether private messages (those with `to`) are sent here too: only to a target that
    /// says so, since a receiver is a third party to the conversation.
    var receivesPrivate = false

    /// Reads `targets` (an array of objects, or of URL strings).
    static func read(_ c: ConfigReader) -> [WebhookTarget] {
        guard let entries = c.array("targets") else {
            c.issue(.missingField, "targets", "missing required field \"targets\" (an array of {\"url\": …})")
            return []
        }
        var targets: [WebhookTarget] = []
        for (path, value) in entries {
            var t = WebhookTarget(name: "", url: "", secret: nil, timeout: .seconds(10), concurrency: 4, headers: [:])
            switch value {
            case .string(let url):
                t.url = url
            case .object(let o):
                let r = c.child(o, at: path)
                t.url = r.requiredString("url")
                t.name = r.string("name", default: "")
                t.secret = r.secret("secret")
                t.timeout = r.duration("timeout", default: .seconds(10))
                t.concurrency = r.int("concurrency", default: 4, in: 1...256)
                t.headers = Dictionary(r.stringMap("headers") ?? [], uniquingKeysWith: { _, b in b })
                t.receivesPrivate = r.bool("private", default: false)
            default:
                c.issue(.wrongType, at: path, "expected a URL or an object with \"url\", found \(value.kindName)")
                continue
            }
            if t.name.isEmpty { t.name = t.url }
            if let u = URL(string: t.url), let scheme = u.scheme, ["http", "https"].contains(scheme), u.host != nil {} else {
                c.issue(.invalidValue, at: value.objectValue == nil ? path : path.appending("url"), "\"\(t.url)\" is not an http(s) URL")
            }
            if let secret = t.secret, (try? StandardWebhookSigner(secret: secret)) == nil {
                c.issue(.invalidValue, at: path.appending("secret"), "a Standard Webhooks secret is whsec_ followed by base64")
            }
            if targets.contains(where: { $0.name == t.name }) {
                c.issue(.duplicateName, at: path, "two targets are named \"\(t.name)\"")
            }
            targets.append(t)
        }
        return targets
    }
}

/// When to try again: the delay before each retry, with jitter.
struct RetrySchedule: Sendable, Equatable {
    /// The delays before the 2nd, 3rd, … attempts. Svix's production schedule by default.
    var delays: [Duration]
    /// ± this fraction of each delay, at random.
    var jitter: Double

    static let production: [Duration] = [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18000), .seconds(36000), .seconds(36000)]

    static func read(_ c: ConfigReader) -> RetrySchedule {
        let r = c.object("retry")
        var delays = RetrySchedule.production
        if let list = r?.array("schedule") {
            delays = list.compactMap { path, value in
                let parsed = value.doubleValue.map(Duration.checkedSeconds) ?? value.stringValue.map(ConfigReader.parseDuration(text:))
                switch parsed {
                case .success(let d)?: return d
                case .failure(let problem)?: r?.issue(.invalidValue, at: path, problem.description)
                case nil: r?.issue(.wrongType, at: path, "expected a duration")
                }
                return nil
            }
        }
        let jitter = r?.double("jitter", in: 0...1) ?? 0.2
        return RetrySchedule(delays: delays, jitter: jitter)
    }

    /// The delay before attempt number `attempt + 1` (0-based), or nil after the last.
    func delay(after attempt: Int) -> Duration? {
        guard attempt < delays.count else { return nil }
        let base = delays[attempt].milliseconds
        let spread = base * jitter
        return .milliseconds(Int64(max(0, base + Double.random(in: -spread...spread))))
    }
}
