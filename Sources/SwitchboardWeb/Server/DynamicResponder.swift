import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard

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
