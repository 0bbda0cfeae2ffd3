import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard

/// One HTTP route an endpoint component serves while it runs.
public struct HTTPRoute: Sendable {
    /// The method matched.
    public let method: HTTPRequest.Method
    /// The exact path matched (query strings are not part of it).
    public let path: String
    /// Answers a request.
    public let handler: @Sendable (Request, EdgeContext) async throws -> Response
    /// Serves a plain GET on the connection itself (a stream: see `ConnectionStreaming`);
    /// `handler` still answers everything else (HEAD, in-process requests).
    let stream: (any ConnectionStreaming)?
    /// Serves a WebSocket handshake on this GET route on the connection itself; `handler`
    /// answers the same request without the upgrade.
    let upgrade: (any ConnectionStreaming)?
    /// Answers on the connection's event loop given the whole body: a small request answered
    /// with a small response, many times a second on one connection (`publish`); it must not
    /// block (what waits goes in `DirectOutcome.later`). `handler` answers the same requests
    /// in process.
    let direct: (@Sendable (Request, ByteBuffer, EdgeContext) -> DirectOutcome)?
    /// A stand-in answering 503 while its endpoint restarts (see `HTTPServing.suspendRoutes`).
    let isPlaceholder: Bool

    /// A route for `method` on `path`.
    public init(_ method: HTTPRequest.Method, _ path: String, handler: @escaping @Sendable (Request, EdgeContext) async throws -> Response) {
        self.init(method, path, stream: nil, handler: handler)
    }

    init(_ method: HTTPRequest.Method, _ path: String, stream: (any ConnectionStreaming)? = nil, upgrade: (any ConnectionStreaming)? = nil,
         direct: (@Sendable (Request, ByteBuffer, EdgeContext) -> DirectOutcome)? = nil, isPlaceholder: Bool = false,
         handler: @escaping @Sendable (Request, EdgeContext) async throws -> Response) {
        self.method = method
        self.path = path
        self.stream = stream
        self.upgrade = upgrade
        self.direct = direct
        self.isPlaceholder = isPlaceholder
        self.handler = handler
    }
}

/// A component that serves HTTP for endpoint components: they register their routes when
/// they start and remove them when they stop, while the server keeps running.
public protocol HTTPServing: Component {
    /// Adds `owner`'s routes, replacing any it had; throws if another owner holds one.
    func register(owner: String, routes: [HTTPRoute]) throws
    /// Removes `owner`'s routes. Idempotent.
    func unregister(owner: String)
    /// Keeps `owner`'s paths while it is away (restarting in a reload): they answer 503 with
    /// `Retry-After` instead of 404, until the owner registers again or unregisters (with
    /// `draining`, until the server stops: a graceful shutdown).
    func suspendRoutes(owner: String, draining: Bool)
    /// Removes the placeholders of `suspendRoutes`, if `owner` has not registered again.
    func releaseSuspendedRoutes(owner: String)
    /// The URL the server answers on, once it runs (`http://127.0.0.1:8080`).
    var baseURL: String? { get }
}

/// Two endpoints asked for the same route on one running server.
public struct RouteTaken: Error, CustomStringConvertible {
    /// `GET /events`
    public let route: String
    /// Who holds it.
    public let owner: String
    public var description: String { "route \(route) is already served by \"\(owner)\"" }
}

extension ComponentContext {
    /// Claims `method path` on the server named in `using.server`, so that two endpoints on
    /// one route are a configuration error naming both.
    public func claimRoute(_ method: String, _ path: String) {
        let server = using["server"] ?? "?"
        claim("route \(server) \(method) \(path)", described: "route \(method) \(path) on \"\(server)\"")
    }

    /// Reads a `path` field (default `fallback`) that must start with `/`.
    public func routePath(_ key: String = "path", default fallback: String) -> String {
        let path = config.string(key, default: fallback)
        guard path.hasPrefix("/"), !path.contains("?"), !path.contains(" ") else {
            config.issue(.invalidValue, key, "a path starts with \"/\" and has no spaces or query: \"\(path)\"")
            return fallback
        }
        return path
    }
}

extension Channel {
    /// Bounds what may be written to this connection and not yet taken by its client to
    /// `bytes` (NIO's write watermark, writable again at half): past it the connection is not
    /// writable, and the endpoint's slow-consumer policy decides. SSE and WebSocket use it for
    /// their `bufferBytes`.
    func limitUnreadBytes(_ bytes: Int) {
        _ = setOption(ChannelOptions.writeBufferWaterMark, value: .init(low: bytes / 2, high: bytes))
    }
}
