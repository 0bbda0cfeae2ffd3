import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Switchboard
import Synchronization

/// The `http-server` component: owns the listener; endpoint components add and remove
/// their routes on it while it runs.
///
/// ```json
/// "http": { "type": "http-server", "host": "127.0.0.1", "port": 8080,
///           "cors": { "origins": ["https://example.org"] } }
/// ```
public final class HTTPServerComponent: HTTPServing {
    struct Config {
        var host: String
        var port: Int
        var maxConnections: Int
        var requestBodyLimit: Int
        var idleTimeout: Duration
        var maxWebSocketFrame: Int
        var headerTimeout: Duration
        var cors: CORSPolicy?
        var shutdownGrace: Duration
        var accessLog: Bool

        init(_ c: ConfigReader) {
            host = c.string("host", default: "127.0.0.1")
            port = c.int("port", default: 8080, in: 0...65535)
            maxConnections = c.int("maxConnections", default: 16384, in: 1...1_000_000)
            requestBodyLimit = c.int("requestBodyLimit", default: 1_048_576, in: 1...1_073_741_824)
            idleTimeout = c.duration("idleTimeout", default: .seconds(75), in: .milliseconds(100) ... .longest)
            headerTimeout = c.duration("headerTimeout", default: .seconds(10), in: .milliseconds(100) ... .seconds(3600))
            maxWebSocketFrame = c.int("maxWebSocketFrame", default: 1 << 20, in: 125...(16 << 20))
            cors = CORSPolicy(c.object("cors"))
            shutdownGrace = c.duration("shutdownGrace", default: .seconds(5))
            accessLog = c.bool("accessLog", default: false)
        }
    }

    struct Running {
        let wire: WireServer
        let port: Int
    }

    let name: String
    let runtime: ComponentRuntime
    let routes = RouteTable()
    let connections = AcceptLimit.Counter()
    let registry = ConnectionRegistry()
    let stats = ResponseStats()
    private let config: Config
    private let cors: Mutex<CORSPolicy?>
    /// Whether each request is logged (method, path, status, duration, bytes).
    var accessLog: Bool { config.accessLog }
    private let running = Mutex<Running?>(nil)

    init(_ context: ComponentContext) {
        name = context.name
        runtime = context.runtime
        config = Config(context.config)
        cors = Mutex(config.cors)
    }

    /// The component type.
    public static let type = ComponentType(
        "http-server", summary: "The HTTP/1.1 listener (SwiftNIO) that endpoint components add routes to.",
        updatableFields: ["cors"]
    ) { HTTPServerComponent($0) }

    /// The request body limit endpoints apply unless they set their own.
    public var requestBodyLimit: Int { config.requestBodyLimit }
    /// The most connections open at once.
    var maxConnections: Int { config.maxConnections }

    var corsPolicy: CORSPolicy? { cors.withLock { $0 } }

    public var baseURL: String? {
        running.withLock { $0 }.map { "http://\(config.host.contains(":") ? "[\(config.host)]" : config.host):\($0.port)" }
    }

    /// The bound port while running (the real one when configured as 0).
    public var boundPort: Int? { running.withLock { $0?.port } }

    /// Answers a request in process, exactly as the listener would (for tests and tools).
    public func respond(to request: Request, context: EdgeContext) async throws -> Response {
        try await DynamicResponder(server: self).respond(to: request, context: context)
    }

    public func register(owner: String, routes: [HTTPRoute]) throws {
        try self.routes.register(owner: owner, routes: routes)
    }

    public func unregister(owner: String) {
        routes.unregister(owner: owner)
    }

    public func suspendRoutes(owner: String, draining: Bool) {
        routes.suspend(owner: owner, draining: draining)
    }

    public func releaseSuspendedRoutes(owner: String) {
        routes.release(owner: owner)
    }

    public func start() async throws {
        guard running.withLock({ $0 == nil }) else { return }
        let settings = WireSettings(
            bodyLimit: config.requestBodyLimit,
            requestTimeout: .nanoseconds(Int64(config.headerTimeout.milliseconds * 1e6)),
            keepAliveTimeout: .nanoseconds(Int64(config.idleTimeout.milliseconds * 1e6)),
            maxWebSocketFrame: config.maxWebSocketFrame)
        let wire: WireServer
        do {
            wire = try await WireServer.start(host: config.host, port: config.port, settings: settings, server: self)
        } catch {
            throw BindFailure(error, component: name, host: config.host, port: config.port) ?? error
        }
        running.withLock { $0 = Running(wire: wire, port: wire.port) }
        runtime.logger.info("listening on http://\(config.host):\(wire.port)")
    }

    /// What a server restarting in a reload hands its replacement: the 503 placeholders of
    /// its endpoints (suspended before it), so that the new listener never answers 404 for
    /// an endpoint that is only restarting.
    struct Suspended: Sendable {
        let placeholders: RouteTable.Table
    }

    public func suspend() async throws -> (any Sendable)? {
        let placeholders = routes.placeholders()
        try await stop()
        return Suspended(placeholders: placeholders)
    }

    public func resume(from state: any Sendable) async throws {
        if let s = state as? Suspended { routes.adopt(s.placeholders) }
        try await start()
    }

    public func stop() async throws {
        guard let r = running.take() else { return }
        // Open streams end when their endpoints stop; anything still open after the grace
        // period is cut so that stop always returns.
        if await r.wire.stop(grace: config.shutdownGrace) {
            runtime.logger.warning("connections still open after \(config.shutdownGrace.short); closing them")
        }
    }

    public func update(_ config: ConfigReader) async throws {
        let policy = CORSPolicy(config.object("cors"))
        try config.throwIssues()
        cors.withLock { $0 = policy }
    }

    public func inspect() async -> JSONValue {
        var o = JSONObject()
        o["host"] = .string(config.host)
        o["port"] = .int(boundPort ?? config.port)
        if let url = baseURL { o["url"] = .string(url) }
        o["connections"] = .int(connections.open.load(ordering: .relaxed))
        o["connectionsAccepted"] = .int(connections.accepted.load(ordering: .relaxed))
        o["connectionsShed"] = .int(connections.shed.load(ordering: .relaxed))
        o["maxConnections"] = .int(config.maxConnections)
        o["requestBodyLimit"] = .int(config.requestBodyLimit)
        o["requests"] = stats.json
        o["cors"] = corsPolicy.map { .array($0.origins.map(JSONValue.string)) } ?? .null
        o["routes"] = .object(JSONObject(routes.listing.map { ($0.0, .string($0.1)) }))
        return .object(o)
    }
}

/// The server's run ended without an error before it was ready.
struct ServerStopped: Error, CustomStringConvertible {
    var description: String { "the server stopped before it was ready" }
}

/// Requests answered, by status class.
final class ResponseStats: Sendable {
    private let byClass = Mutex([0, 0, 0, 0, 0])

    func count(_ status: HTTPResponse.Status) {
        let k = min(max(status.code / 100 - 1, 0), 4)
        byClass.withLock { $0[k] += 1 }
    }

    var json: JSONValue {
        let counts = byClass.withLock { $0 }
        var o = JSONObject()
        o["total"] = .int(counts.reduce(0, +))
        for (i, c) in counts.enumerated() { o["\(i + 1)xx"] = .int(c) }
        return .object(o)
    }
}

/// A listener that could not bind, said in terms of the configuration to change.
public struct BindFailure: Error, CustomStringConvertible {
    /// The http-server component.
    public let component: String
    public let host: String
    public let port: Int
    /// The errno of the bind (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, …).
    public let code: Int32

    /// Nil when `error` is not a bind failure.
    init?(_ error: any Error, component: String, host: String, port: Int) {
        guard let io = error as? IOError else { return nil }
        self.component = component
        self.host = host
        self.port = port
        code = io.errnoCode
    }

    public var description: String {
        let at = "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        switch code {
        case EADDRINUSE:
            return "components.\(component).port: \(at) is already in use (another process listens there: stop it, or choose another port)"
        case EACCES:
            return "components.\(component).port: not allowed to listen on \(at) (ports below 1024 need privileges: choose 1024 or above)"
        case EADDRNOTAVAIL:
            return "components.\(component).host: \(host) is not an address of this machine"
        default:
            return "components.\(component): cannot listen on \(at): \(String(cString: strerror(code)))"
        }
    }
}
