import HTTPTypes
import Hummingbird
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
