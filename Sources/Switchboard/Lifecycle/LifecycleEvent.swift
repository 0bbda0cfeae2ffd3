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
    ///
    /// Every message carries one: written from the date's milliseconds with the civil-from-days
    /// rule (H. Hinnant's `civil_from_days`), not Foundation's format style, which cost a publish
    /// about 2.5 µs (profiled). Years outside 1970–9999 go to the format style.
    public static func timestamp(_ date: Date) -> String {
        // As Foundation splits it: whole seconds and the fraction of `Date`'s own value
        // (seconds since 2001), milliseconds truncated from the fraction's nanoseconds.
        let reference = date.timeIntervalSinceReferenceDate
        guard reference >= -978_307_200, reference < 252_423_993_600 else { return date.formatted(iso8601) }
        let whole = reference.rounded(.down)
        let fraction = Int64(((reference - whole) * 1_000_000_000).rounded(.towardZero)) / 1_000_000
        let ms = (Int64(whole) + 978_307_200) * 1000 + min(max(fraction, 0), 999)
        let days = ms / 86_400_000
        let inDay = ms % 86_400_000
        // civil_from_days, for days since 1970-01-01 (non-negative here).
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        var out = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int64, _ at: Int, _ width: Int) {
            var v = value
            for i in stride(from: at + width - 1, through: at, by: -1) {
                out[i] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
            }
        }
        put(year, 0, 4); out[4] = 45
        put(month, 5, 2); out[7] = 45
        put(day, 8, 2); out[10] = 84
        put(inDay / 3_600_000, 11, 2); out[13] = 58
        put(inDay / 60_000 % 60, 14, 2); out[16] = 58
        put(inDay / 1000 % 60, 17, 2); out[19] = 46
        put(inDay % 1000, 20, 3); out[23] = 90
        return String(decoding: out, as: UTF8.self)
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
