import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard

/// The server's one responder: CORS, then the route table as it is at this moment.
///
/// Hummingbird builds its router once; looking routes up per request is what lets
/// endpoints come and go while the server runs.
struct DynamicResponder: HTTPResponder {
    let server: HTTPServerComponent

    func respond(to request: Request, context: EdgeContext) async throws -> Response {
        guard server.accessLog else { return try await respondUnlogged(to: request, context: context) }
        let started = ContinuousClock.now
        let response = try await respondUnlogged(to: request, context: context)
        return AccessLog.wrap(response, request, since: started, logger: server.runtime.logger)
    }

    /// A direct route's answer, made on the event loop (see `HTTPRoute.direct`) with what
    /// `respond` adds: CORS, the status count, the access log. `nil` when the route is not a
    /// direct one (any more): then `respond` answers.
    func answerDirect(to request: Request, body: ByteBuffer, context: EdgeContext) -> DirectOutcome? {
        guard let direct = server.routes.lookup(request.method, request.uri.path).route?.direct else { return nil }
        let started = ContinuousClock.now
        let cors = server.corsPolicy
        let origin = request.headers[.origin]
        let (server, method, path) = (server, request.method.rawValue, request.uri.path)
        return direct(request, body, context).map { answer in
            var answer = answer
            cors?.addOriginHeaders(for: origin, to: &answer.headers)
            server.stats.count(answer.status)
            if server.accessLog {
                AccessLog.log(method: method, path: path, status: answer.status.code, since: started, bytes: answer.body.readableBytes,
                              logger: server.runtime.logger)
            }
            return answer
        }
    }

    private func respondUnlogged(to request: Request, context: EdgeContext) async throws -> Response {
        let cors = server.corsPolicy
        let origin = request.headers[.origin]
        if let cors, let origin, request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            let response = cors.preflight(request, origin: origin)
            server.stats.count(response.status)
            return response
        }
        var response = await route(request, context)
        cors?.addOriginHeaders(for: origin, to: &response.headers)
        server.stats.count(response.status)
        return response
    }

    private func route(_ request: Request, _ context: EdgeContext) async -> Response {
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
