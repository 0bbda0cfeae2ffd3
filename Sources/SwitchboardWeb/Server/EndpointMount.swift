import Switchboard

/// What every endpoint component shares: the `server` slot, and putting its routes on the
/// server when it starts and taking them off when it stops; while the endpoint restarts in a
/// reload (or the system drains before a stop) its paths answer `503` with `Retry-After`, never
/// `404`. A user's endpoint gets the same by holding one (see `HTTPEndpoint`).
///
/// ```swift
/// final class Echo: HTTPEndpoint {
///     let mount: EndpointMount
///     init(_ context: ComponentContext) { mount = EndpointMount(context) }
///     func start() async throws {
///         try mount.mount([HTTPRoute(.get, "/echo") { request, _ in .json(.ok, ["path": .string(request.uri.path)]) }])
///     }
/// }
/// ```
public struct EndpointMount: Sendable {
    /// The component whose routes these are.
    public let owner: String
    let server: Dependency<any HTTPServing>

    /// Reads the `server` slot of the component being built.
    public init(_ context: ComponentContext) {
        owner = context.name
        server = context.dependency("server", as: (any HTTPServing).self, "the http-server this endpoint's routes go on")
    }

    /// Registers the routes; returns the server.
    @discardableResult
    public func mount(_ routes: [HTTPRoute]) throws -> any HTTPServing {
        let s = try server.get()
        try s.register(owner: owner, routes: routes)
        return s
    }

    /// Removes the routes (idempotent; a server that is gone has none to remove).
    public func unmount() {
        (try? server.get())?.unregister(owner: owner)
    }

    /// Leaves placeholders answering 503 + `Retry-After` while the endpoint restarts.
    public func suspend() {
        (try? server.get())?.suspendRoutes(owner: owner, draining: false)
    }

    /// Placeholders for a graceful shutdown: they stay after `unmount`, until the server stops.
    public func drain() {
        (try? server.get())?.suspendRoutes(owner: owner, draining: true)
    }

    /// Removes the placeholders `suspend()` left, unless the routes were registered again.
    public func release() {
        (try? server.get())?.releaseSuspendedRoutes(owner: owner)
    }
}

/// A component that serves routes on an `http-server` through its `mount`: `stop`, `suspend`
/// and `release` come with it — its routes go on a stop, and answer 503 with `Retry-After`
/// while it restarts in a reload.
public protocol HTTPEndpoint: Component {
    /// Where the endpoint's routes go.
    var mount: EndpointMount { get }
}

extension HTTPEndpoint {
    public func stop() async throws { mount.unmount() }

    public func suspend() async throws -> (any Sendable)? {
        mount.suspend()
        return SuspendedRoutes()
    }

    public func release(_ state: any Sendable) async { mount.release() }
}

/// What an endpoint hands its replacement when it only has its routes to keep.
public struct SuspendedRoutes: Sendable {}
