/// A part of a system with a lifecycle: the unit the system map starts, stops and inspects.
///
/// An instance is built from its configuration by its `ComponentType` before anything
/// starts; building must not do I/O. The map then calls `start()` in dependency order.
///
/// - Important: `start()` returns only when the component is ready to be used by its
///   dependents (a server is listening, a channel accepts items). `stop()` must be
///   idempotent and safe on a component that never started, and must not return before
///   the component has released what it holds (ports, tasks, taps). Both may be called
///   again after a `stop()`: a stopped component can start anew.
public protocol Component: AnyObject, Sendable {
    /// Makes the component ready for its dependents.
    func start() async throws
    /// Releases everything the component holds; idempotent.
    func stop() async throws
    /// The component's own live figures (buffer fill, connections, …) for the console.
    func inspect() async -> JSONValue
    /// Applies a changed configuration while running, for the fields its type lists as
    /// updatable in place. Throwing leaves the component as it was.
    func update(_ config: ConfigReader) async throws

    /// Stops for a reload that replaces this instance, keeping what its replacement should
    /// take over (Integrant's `suspend!`): buffered messages, history, replay memory, a route
    /// that answers 503 meanwhile. Returns that state, or nil for a plain stop (the default).
    ///
    /// - Important: What is returned goes to the replacement's `resume(from:)`; when no
    ///   replacement takes it (the reload was rolled back), the map hands it back to this
    ///   instance's `release(_:)`. Until then the suspended instance must not block others.
    func suspend() async throws -> (any Sendable)?
    /// Starts in place of a suspended instance, taking over its `state` (Integrant's
    /// `resume`). The default ignores the state and starts afresh.
    func resume(from state: any Sendable) async throws
    /// Lets go of what `suspend()` kept when nobody took it over. The default does nothing.
    func release(_ state: any Sendable) async

    /// Called once everything started together with this component is running: its
    /// dependents have started (and taken their taps and listeners), so it may begin moving
    /// messages. A component that moves messages from a source to consumers starts doing so
    /// here, not in `start()`, or what it moves before its consumers are back is lost (in a
    /// reload, a restarted mult would pump the messages its channel handed on to nobody).
    /// The default does nothing. Called after `start()` and `resume(from:)` alike.
    func activate() async

    /// Prepares a graceful shutdown before anything stops: inputs refuse new messages,
    /// buffers empty into their consumers, until they are done or `deadline` passes. The
    /// default does nothing.
    ///
    /// - Important: The map calls it on every component at once while all are still
    ///   running; it must return by `deadline`.
    func drain(until deadline: ContinuousClock.Instant) async
}

extension Component {
    public func inspect() async -> JSONValue { .object(JSONObject()) }

    public func update(_ config: ConfigReader) async throws {
        throw UpdateNotSupported()
    }

    public func suspend() async throws -> (any Sendable)? {
        try await stop()
        return nil
    }

    public func resume(from state: any Sendable) async throws { try await start() }

    public func release(_ state: any Sendable) async {}

    public func activate() async {}

    public func drain(until deadline: ContinuousClock.Instant) async {}
}

/// Thrown by the default `update(_:)`: the component must be restarted to change.
public struct UpdateNotSupported: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "this component cannot be updated in place" }
}
