import HTTPTypes
import Hummingbird
import Switchboard

/// Cross-origin rules of one server: which origins, methods and headers browsers may use.
struct CORSPolicy: Sendable, Equatable {
    var origins: [String]
    var methods: [String]
    var headers: [String]
    var exposeHeaders: [String]
    var maxAge: Int
    var credentials: Bool

    /// Reads the `cors` object; `nil` when absent (no CORS headers at all).
    init?(_ config: ConfigReader?) {
        guard let c = config else { return nil }
        origins = c.strings("origins") ?? ["*"]
        methods = (c.strings("methods") ?? ["GET", "POST", "OPTIONS"]).map { $0.uppercased() }
        headers = c.strings("headers") ?? ["Content-Type", "Last-Event-ID", "Authorization"]
        exposeHeaders = c.strings("exposeHeaders") ?? ["Retry-After"]
        maxAge = c.int("maxAge", default: 600, in: 0...86_400)
        credentials = c.bool("credentials", default: false)
        if credentials, origins.contains("*") {
            c.issue(.invalidValue, "credentials", "browsers refuse credentials with origin \"*\": list the origins")
        }
    }

    func allows(origin: String) -> Bool {
        origins.contains("*") || origins.contains(origin)
    }

    /// The answer to a preflight request (`OPTIONS` with `Access-Control-Request-Method`).
    func preflight(_ request: Request, origin: String) -> Response {
        guard allows(origin: origin) else {
            return .error(.forbidden, "origin \(origin) is not allowed")
        }
        let asked = request.headers[.accessControlRequestMethod]?.uppercased() ?? ""
        guard methods.contains(asked) else {
            return .error(.forbidden, "method \(asked) is not allowed", ["allowed": .array(methods.map(JSONValue.string))])
        }
        var h = originHeaders(origin)
        h[.accessControlAllowMethods] = methods.joined(separator: ", ")
        h[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? headers.joined(separator: ", ")
        if let askedHeaders = request.headers[.accessControlRequestHeaders] {
            let wanted = askedHeaders.split(separator: ",").map { $0.trimmingSpaces().lowercased() }
            let ok = Set(headers.map { $0.lowercased() })
            if let refused = wanted.first(where: { !ok.contains($0) && !$0.isEmpty }) {
                return .error(.forbidden, "header \(refused) is not allowed", ["allowed": .array(headers.map(JSONValue.string))])
            }
        }
        h[.accessControlMaxAge] = String(maxAge)
        return Response(status: .noContent, headers: h)
    }

    /// The headers an actual (non-preflight) response from an allowed origin carries.
    /// Adds the headers of an answer to a request from `origin` to `fields` (nothing when the
    /// request named no origin, or one that is not allowed).
    func addOriginHeaders(for origin: String?, to fields: inout HTTPFields) {
        guard let origin, allows(origin: origin) else { return }
        for field in originHeaders(origin) { fields[field.name] = field.value }
    }

    func originHeaders(_ origin: String) -> HTTPFields {
        var h = HTTPFields()
        h[.accessControlAllowOrigin] = origins.contains("*") && !credentials ? "*" : origin
        h[.vary] = "Origin"
        if credentials { h[.accessControlAllowCredentials] = "true" }
        if !exposeHeaders.isEmpty { h[.accessControlExposeHeaders] = exposeHeaders.joined(separator: ", ") }
        return h
    }
}
