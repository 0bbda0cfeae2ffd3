/// Where a component is in its lifecycle: `stopped → starting → running → stopping →
/// stopped`, or `failed` with the error's text.
public enum LifecycleState: Sendable, Equatable, CustomStringConvertible {
    case stopped
    case starting
    case running
    case stopping
    case failed(String)

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

extension Duration {
    /// The duration in (fractional) milliseconds.
    public var milliseconds: Double {
        let (s, attos) = components
        return Double(s) * 1000 + Double(attos) / 1e15
    }

    /// Short human form: `850µs`, `12.3ms`, `4.20s`.
    public var short: String {
        let ms = milliseconds
        if ms < 1 { return "\(Int((ms * 1000).rounded()))µs" }
        if ms < 1000 { return "\((ms * 10).rounded() / 10)ms" }
        return "\((ms / 10).rounded() / 100)s"
    }
}
