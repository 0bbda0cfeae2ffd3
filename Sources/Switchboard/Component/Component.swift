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
}

extension Component {
    public func inspect() async -> JSONValue { .object(JSONObject()) }

    public func update(_ config: ConfigReader) async throws {
        throw UpdateNotSupported()
    }
}

/// Thrown by the default `update(_:)`: the component must be restarted to change.
public struct UpdateNotSupported: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "this component cannot be updated in place" }
}
