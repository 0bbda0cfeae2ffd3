import Switchboard

/// What every endpoint component shares: the `server` slot, and putting its routes on the
/// server when it starts and taking them off when it stops.
struct EndpointMount: Sendable {
    let owner: String
    let server: Dependency<any HTTPServing>

    init(_ context: ComponentContext) {
        owner = context.name
        server = context.dependency("server", as: (any HTTPServing).self, "the http-server this endpoint's routes go on")
    }

    /// Registers the routes; returns the server.
    @discardableResult
    func mount(_ routes: [HTTPRoute]) throws -> any HTTPServing {
        let s = try server.get()
        try s.register(owner: owner, routes: routes)
        return s
    }

    /// Removes the routes (idempotent; a server that is gone has none to remove).
    func unmount() {
        (try? server.get())?.unregister(owner: owner)
    }

    /// Leaves placeholders answering 503 + `Retry-After` while the endpoint restarts.
    func suspend() {
        (try? server.get())?.suspendRoutes(owner: owner, draining: false)
    }

    /// Placeholders for a graceful shutdown: they stay after `unmount`, until the server stops.
    func drain() {
        (try? server.get())?.suspendRoutes(owner: owner, draining: true)
    }

    /// Removes the placeholders `suspend()` left, unless the routes were registered again.
    func release() {
        (try? server.get())?.releaseSuspendedRoutes(owner: owner)
    }
}

/// What an endpoint hands its replacement when it only has its routes to keep.
struct SuspendedRoutes: Sendable {}
