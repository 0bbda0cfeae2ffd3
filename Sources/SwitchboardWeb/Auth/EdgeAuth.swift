import HTTPTypes
import Hummingbird
import Logging
import Switchboard

/// An endpoint's optional `auth` slot: finds the credential of a request (an
/// `Authorization: Bearer` header, the auth component's cookie, or `?token=` where the
/// endpoint allows it) and asks the auth component who it is.
struct EdgeAuth {
    let auth: Dependency<AuthComponent>?
    let allowQueryToken: Bool
    private let logger: Logger

    init(_ context: ComponentContext) {
        logger = context.logger
        auth = context.optionalDependency("auth", as: AuthComponent.self, "verifies tokens: without it the endpoint is open to anyone")
        allowQueryToken = context.config.bool("allowQueryToken", default: false)
        if auth == nil {
            if allowQueryToken { context.config.issue(.invalidValue, "allowQueryToken", "allowQueryToken needs an auth slot") }
        }
    }

    /// Says in the start log when the endpoint is open to anyone.
    func announce() {
        if auth == nil { logger.notice("open: no auth slot, so anyone may use it under any name") }
    }

    /// Whether the endpoint checks identities.
    var isOn: Bool { auth != nil }

    /// The request's identity, or the refusal to answer with (401 and a JSON reason); nil
    /// when the endpoint has no auth slot.
    func identify(_ request: Request) async -> Result<Identity, AuthFailure>? {
        await identify(headers: request.headers) { request.uri.queryParameters.get($0).map { String($0) } }
    }

    /// The same for a request's head and query (a WebSocket upgrade).
    func identify(headers: HTTPFields, query: (String) -> String?) async -> Result<Identity, AuthFailure>? {
        guard let auth, let component = try? auth.get() else {
            return auth == nil ? nil : .failure(AuthFailure(.unknownKey, "the auth component is not running"))
        }
        guard let credential = credential(headers, query, cookie: component.cookie) else {
            return .failure(AuthFailure(.missingToken, "no token: send Authorization: Bearer <token>"))
        }
        do {
            return .success(try await component.identify(credential))
        } catch {
            return .failure(error)
        }
    }

    /// Who a token sent later on an open connection (a WebSocket's `auth` frame) says the user
    /// is; nil when the endpoint has no auth slot.
    func identify(token: String) async -> Result<Identity, AuthFailure>? {
        guard let auth, let component = try? auth.get() else {
            return auth == nil ? nil : .failure(AuthFailure(.unknownKey, "the auth component is not running"))
        }
        do {
            return .success(try await component.identify(token))
        } catch {
            return .failure(error)
        }
    }

    /// The token a WebSocket client offers as a subprotocol (`Sec-WebSocket-Protocol:
    /// switchboard.v1, bearer.<JWT>`, as Phoenix and Kubernetes do): browsers cannot set an
    /// `Authorization` header on a WebSocket, and this keeps the token out of URLs and logs.
    static func subprotocolToken(_ headers: HTTPFields) -> String? {
        for offered in (headers[values: .secWebSocketProtocol]).flatMap({ $0.split(separator: ",") }) {
            let p = offered.trimmingCharacters(in: .whitespaces)
            if p.hasPrefix("bearer."), p.count > 7 { return String(p.dropFirst(7)) }
        }
        return nil
    }

    private func credential(_ headers: HTTPFields, _ query: (String) -> String?, cookie: String) -> String? {
        if let header = headers[.authorization], header.lowercased().hasPrefix("bearer ") {
            return String(header.dropFirst(7)).trimmingSpaces()
        }
        if let token = Self.subprotocolToken(headers) { return token }
        if let cookies = headers[.cookie] {
            for pair in cookies.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                if kv.count == 2, kv[0] == cookie { return kv[1] }
            }
        }
        if allowQueryToken, let token = query("token") { return token }
        return nil
    }
}

extension JSONAnswer {
    /// 401 with the reason, as a JSON body and a `WWW-Authenticate` header.
    static func unauthorized(_ failure: AuthFailure) -> Self {
        var h = HTTPFields()
        h[.wwwAuthenticate] = "Bearer error=\"invalid_token\""
        return .error(.unauthorized, failure.detail, ["reason": .string(failure.reason.rawValue)], headers: h)
    }
}
