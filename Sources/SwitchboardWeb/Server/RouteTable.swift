import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard
import Synchronization

/// The routes a running server serves, swapped whole under a lock: lookups see either the
/// table before a change or the one after, never half of it.
final class RouteTable: Sendable {
    struct Table {
        var http: [String: [HTTPRequest.Method: (owner: String, route: HTTPRoute)]] = [:]
        /// Owners whose routes are placeholders (see `suspend`).
        var away: Set<String> = []
        /// Owners draining before a shutdown: their placeholders outlast `unregister`.
        var draining: Set<String> = []
    }

    private let table = Mutex(Table())

    func register(owner: String, routes: [HTTPRoute]) throws {
        try table.withLock { t in
            var next = t
            Self.remove(owner, from: &next)
            next.away.remove(owner)
            next.draining.remove(owner)
            for r in routes {
                if let taken = next.http[r.path]?[r.method] { throw RouteTaken(route: "\(r.method) \(r.path)", owner: taken.owner) }
                next.http[r.path, default: [:]][r.method] = (owner, r)
            }
            t = next
        }
    }

    /// Removes `owner`'s routes, unless it is draining: then its placeholders stay until the
    /// server stops, so a client never reads a shutdown as "no such endpoint".
    func unregister(owner: String) {
        table.withLock { t in
            guard !t.draining.contains(owner) else { return }
            Self.remove(owner, from: &t)
            t.away.remove(owner)
        }
    }

    /// Removes `owner`'s placeholders, if it has not registered real routes since.
    func release(owner: String) {
        table.withLock { t in
            guard t.away.remove(owner) != nil else { return }
            t.draining.remove(owner)
            Self.remove(owner, from: &t)
        }
    }

    /// Replaces `owner`'s routes (WebSocket handshakes included) by placeholders that answer 503
    /// with `Retry-After: 1`: clients retry instead of concluding the endpoint is gone.
    /// `draining` keeps them past `unregister` (a graceful shutdown).
    func suspend(owner: String, draining: Bool = false) {
        table.withLock { t in
            if draining { t.draining.insert(owner) }
            var away: [(HTTPRequest.Method, String)] = []
            for (path, methods) in t.http { for (method, entry) in methods where entry.owner == owner { away.append((method, path)) } }
            Self.remove(owner, from: &t)
            t.away.insert(owner)
            for (method, path) in away {
                t.http[path, default: [:]][method] = (owner, HTTPRoute(method, path, isPlaceholder: true) { _, _ in Self.away(owner) })
            }
        }
    }

    static func away(_ owner: String) -> Response {
        var headers = HTTPFields()
        headers[.retryAfter] = "1"
        return .error(.serviceUnavailable, "\(owner) is restarting; retry in a moment", headers: headers)
    }

    private static func remove(_ owner: String, from t: inout Table) {
        for (path, methods) in t.http {
            let kept = methods.filter { $0.value.owner != owner }
            t.http[path] = kept.isEmpty ? nil : kept
        }
    }

    /// The placeholders of the owners that are away, for a replacement server to answer with
    /// until they are back (a reload that restarts the server restarts its endpoints too).
    func placeholders() -> Table {
        table.withLock { t in
            var p = Table()
            p.draining = t.draining.intersection(t.away)
            for (path, methods) in t.http {
                let kept = methods.filter { t.away.contains($0.value.owner) }
                if !kept.isEmpty { p.http[path] = kept }
            }
            return p
        }
    }

    /// Takes over `placeholders` of a predecessor, where nobody has registered since.
    func adopt(_ placeholders: Table) {
        table.withLock { t in
            for (path, methods) in placeholders.http {
                for (method, entry) in methods where t.http[path]?[method] == nil {
                    t.http[path, default: [:]][method] = entry
                    t.away.insert(entry.owner)
                    if placeholders.draining.contains(entry.owner) { t.draining.insert(entry.owner) }
                }
            }
        }
    }

    /// The route for `method path`, or the methods the path has (for a 405).
    func lookup(_ method: HTTPRequest.Method, _ path: String) -> (route: HTTPRoute?, allowed: [HTTPRequest.Method]) {
        table.withLock { t in
            guard let methods = t.http[path] else { return (nil, []) }
            if let hit = methods[method] { return (hit.route, []) }
            if method == .head, let get = methods[.get] { return (get.route, []) }
            return (nil, methods.keys.sorted { $0.rawValue < $1.rawValue })
        }
    }

    /// The streaming side of the GET route on `path`, if it has one (placeholders have none).
    func stream(_ path: String) -> (any ConnectionStreaming)? {
        table.withLock { $0.http[path]?[.get]?.route.stream }
    }


    /// `METHOD path → owner` for the console.
    var listing: [(String, String)] {
        table.withLock { t in
            let http = t.http.flatMap { path, methods in methods.map { ("\($0.key) \(path)", $0.value.owner) } }
            let ws = t.http.compactMap { path, methods in methods[.get]?.route.upgrade == nil ? nil : ("WebSocket \(path)", methods[.get]!.owner) }
            return (http + ws).sorted { $0.0 < $1.0 }
        }
    }
}

// MARK: - Responder

/// The server's one responder: CORS preflights, then the route table as it is at this moment.
///
/// Routes are looked up per request, which is what lets endpoints come and go while the
/// server runs. On the wire, `HTTPConnectionHandler` writes what `route` answers (adding CORS,
/// `Date`, the counts and the access log to every head); `respond` answers in process.
struct DynamicResponder: HTTPResponder {
    let server: HTTPServerComponent

    /// Answers a request in process (tests, tools), with the CORS headers and the status count
    /// the wire adds to every answer.
    func respond(to request: Request, context: EdgeContext) async throws -> Response {
        var response = await route(request, context)
        server.corsPolicy?.addOriginHeaders(for: request.headers[.origin], to: &response.headers)
        server.stats.count(response.status)
        return response
    }

    /// A direct route's answer, made on the event loop (see `HTTPRoute.direct`); `nil` when the
    /// route is not a direct one: then `route` answers.
    func answerDirect(to request: Request, body: ByteBuffer, context: EdgeContext) -> DirectOutcome? {
        guard let direct = server.routes.lookup(request.method, request.uri.path).route?.direct else { return nil }
        return direct(request, body, context)
    }

    /// The answer of the route for `request`: a preflight's, the route's own, 405 or 404.
    func route(_ request: Request, _ context: EdgeContext) async -> Response {
        if let cors = server.corsPolicy, let origin = request.headers[.origin], request.method == .options,
           request.headers[.accessControlRequestMethod] != nil {
            return cors.preflight(request, origin: origin)
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > server.requestBodyLimit {
            return .error(.contentTooLarge, "request body of \(declared) bytes exceeds the limit of \(server.requestBodyLimit)")
        }
        let (route, allowed) = server.routes.lookup(request.method, request.uri.path)
        if let route {
            do {
                return try await route.handler(request, context)
            } catch {
                context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
                return .error(.internalServerError, "internal error")
            }
        }
        if !allowed.isEmpty {
            var headers = HTTPFields()
            headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            return .error(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path)",
                          ["allowed": .array(allowed.map { .string($0.rawValue) })], headers: headers)
        }
        return .error(.notFound, "no route for \(request.method) \(request.uri.path)")
    }
}
