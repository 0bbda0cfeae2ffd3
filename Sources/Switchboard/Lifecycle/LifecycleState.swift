/// Where a component is in its lifecycle: `stopped → starting → running → stopping →
/// stopped`, or `failed` with the error and when it happened.
public enum LifecycleState: Sendable, Equatable, CustomStringConvertible {
    case stopped
    case starting
    case running
    case stopping
    case failed(ComponentFailure)

    /// The state's name without the error: `stopped`, `starting`, …, `failed`.
    public var name: String {
        switch self {
        case .stopped: "stopped"
        case .starting: "starting"
        case .running: "running"
        case .stopping: "stopping"
        case .failed: "failed"
        }
    }

    /// Whether the component is up and usable by its dependents.
    public var isRunning: Bool { self == .running }

    public var description: String {
        if case .failed(let why) = self { return "failed: \(why)" }
        return name
    }
}

/// Why a component is `failed`: the error it raised (typed: a `StoreFailure`, a `BindFailure`,
/// …), and in which part of its life.
public struct ComponentFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// When the component failed.
    public enum Phase: String, Sendable {
        /// Its `start()` threw.
        case start
        /// It reported an error while running (`ComponentRuntime.fail`).
        case running
        /// Its `stop()` threw.
        case stop
    }

    public let phase: Phase
    /// The component's own error.
    public let error: any Error

    public init(_ phase: Phase, _ error: any Error) {
        self.phase = phase
        self.error = error
    }

    public var description: String { phase == .stop ? "stop failed: \(error)" : "\(error)" }

    public static func == (a: Self, b: Self) -> Bool { a.phase == b.phase && a.description == b.description }
}

/// One summary word for a whole system, shown in the console prompt.
public enum SystemState: String, Sendable {
    /// Every component is running.
    case running
    /// No component is running.
    case stopped
    /// Some components run and others do not (none failed).
    case partial
    /// At least one component has failed.
    case degraded
    /// A lifecycle operation is under way.
    case busy
}

/// Why a text or number is not a duration this system takes.
public enum DurationProblem: Error, Equatable, CustomStringConvertible {
    /// Not a number of seconds or a number with a unit.
    case malformed
    /// Below zero.
    case negative
    /// Longer than `Duration.longest` (or not finite).
    case tooLong

    public var description: String {
        switch self {
        case .malformed: "expected a duration such as \"500ms\", \"15s\", \"2m\", \"1h\" or \"7d\""
        case .negative: "a duration cannot be negative"
        case .tooLong: "a duration is at most \(Duration.longest.short) (3650d)"
        }
    }
}

extension Duration {
    /// The longest duration any setting takes (ten years): long enough for any timeout or
    /// retention, short enough for every clock and timer underneath (NIO counts nanoseconds
    /// in an `Int64`, about 292 years), so no conversion can overflow.
    public static let longest: Duration = .seconds(3650 * 86_400)

    /// `seconds` as a duration, refusing what is negative, not finite or above `longest`.
    public static func checkedSeconds(_ seconds: Double) -> Result<Duration, DurationProblem> {
        guard !seconds.isNaN else { return .failure(.malformed) }
        guard seconds >= 0 else { return .failure(.negative) }
        guard seconds.isFinite, seconds <= Double(longest.components.seconds) else { return .failure(.tooLong) }
        return .success(.milliseconds(Int64((seconds * 1000).rounded())))
    }

    /// The duration in (fractional) milliseconds.
    public var milliseconds: Double {
        let (s, attos) = components
        return Double(s) * 1000 + Double(attos) / 1e15
    }

    /// Short human form: `850µs`, `12.3ms`, `4.20s`.
    /// The duration as `system.json` writes it, parsed back exactly: `"7d"`, `"1h"`, `"2m"`,
    /// `"15s"`, `"250ms"`, or a number of seconds below a millisecond's precision.
    public var configText: String {
        let ms = milliseconds
        guard ms == ms.rounded(), abs(ms) < 9e15 else { return "\(Double(components.seconds) + Double(components.attoseconds) / 1e18)" }
        let whole = Int64(ms)
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where whole >= size && whole % size == 0 {
            return "\(whole / size)\(unit)"
        }
        return "\(whole)ms"
    }

    public var short: String {
        let ms = milliseconds
        if ms < 1 { return "\(Int((ms * 1000).rounded()))µs" }
        if ms < 1000 { return "\((ms * 10).rounded() / 10)ms" }
        if ms < 600_000 { return "\((ms / 10).rounded() / 100)s" }
        let s = Int(ms / 1000)
        if s < 86_400 * 2 { return s % 3600 == 0 ? "\(s / 3600)h" : s % 60 == 0 ? "\(s / 60)m" : "\(s)s" }
        return "\(s / 86_400)d" + (s % 86_400 == 0 ? "" : "\((s % 86_400) / 3600)h")
    }
}
