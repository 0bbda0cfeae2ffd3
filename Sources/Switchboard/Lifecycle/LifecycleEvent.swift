import Foundation

/// One entry of the lifecycle log the console shows with `log`.
public struct LifecycleEvent: Sendable {
    /// What happened.
    public enum Kind: String, Sendable {
        case starting, running, stopping, stopped, failed
        /// A system-level note (rollback, reload outcome, …).
        case note
    }

    /// When it happened (wall clock).
    public let time: Date
    /// The component concerned, or `nil` for the system as a whole.
    public let component: String?
    /// What happened.
    public let kind: Kind
    /// How long the step took, for `running` and `stopped`.
    public let duration: Duration?
    /// The error or note text.
    public let message: String?

    /// The event as JSON for the console.
    public var json: JSONValue {
        var o = JSONObject()
        o["time"] = .string(Self.timestamp(time))
        o["component"] = component.map(JSONValue.string) ?? .null
        o["event"] = .string(kind.rawValue)
        if let duration { o["durationMs"] = .double(duration.milliseconds) }
        if let message { o["message"] = .string(message) }
        return .object(o)
    }

    /// One line for a terminal: `12:00:01.123 inbox running (0.4ms)`.
    public var line: String {
        var s = Self.timestamp(time) + " " + (component ?? "system") + " " + kind.rawValue
        if let duration { s += " (\(duration.short))" }
        if let message { s += ": \(message)" }
        return s
    }

    /// ISO 8601 with milliseconds, UTC: `2026-11-23T02:17:55.458Z`.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(iso8601)
    }

    private static let iso8601 = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// The most recent lifecycle events, oldest first, at most `capacity`.
struct EventLog {
    let capacity: Int
    private(set) var events: [LifecycleEvent] = []
    private var head = 0

    init(capacity: Int = 1000) { self.capacity = capacity }

    mutating func append(_ event: LifecycleEvent) {
        if events.count < capacity {
            events.append(event)
        } else {
            events[head] = event
            head = (head + 1) % capacity
        }
    }

    /// The last `n` events, oldest first.
    func last(_ n: Int) -> [LifecycleEvent] {
        let ordered = Array(events[head...] + events[..<head])
        return Array(ordered.suffix(n))
    }
}
