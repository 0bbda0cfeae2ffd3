import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard

/// The `page` endpoint: serves the chat page (no build step, nothing from the internet).
///
/// ```json
/// "page": { "type": "page", "path": "/", "using": { "server": "http" },
///           "events": "/events", "publish": "/messages", "websocket": "/ws", "history": "/history" }
/// ```
public final class PageEndpoint: HTTPEndpoint {
    public let mount: EndpointMount
    private let path: String
    private let body: ByteBuffer
    /// Where the page's icon is served: `/favicon.ico` for a page at `/` (where browsers
    /// look by themselves), else beside the page.
    private let iconPath: String
    /// Where `switchboard.js`, the browser client, is served: beside the page.
    private let clientPath: String
    static let client = ByteBuffer(string: ClientScript.source)

    /// A speech bubble in the page's accent colour (SVG, which every current browser takes).
    static let icon = ByteBuffer(string: ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="4" y="8" width="56" height="40" rx="10" fill="#2f6fde"/><path d="M18 47 L13 60 L31 47 Z" fill="#2f6fde"/><circle cx="20" cy="28" r="4" fill="#fff"/><circle cx="32" cy="28" r="4" fill="#fff"/><circle cx="44" cy="28" r="4" fill="#fff"/></svg>"##)

    init(_ context: ComponentContext) {
        mount = EndpointMount(context)
        path = context.routePath(default: "/")
        let c = context.config
        let title = c.string("title", default: "Switchboard chat")
        var settings = JSONObject()
        settings["events"] = .string(c.string("events", default: "/events"))
        settings["publish"] = .string(c.string("publish", default: "/messages"))
        settings["websocket"] = c.string("websocket").map(JSONValue.string) ?? .null
        settings["history"] = c.string("history").map(JSONValue.string) ?? .null
        settings["event"] = .string(c.string("event", default: "message"))
        settings["presence"] = c.string("presence").map(JSONValue.string) ?? .null
        // With an auth slot the page asks for a token and sends it with every request.
        settings["auth"] = .bool(context.optionalDependency("auth", as: AuthComponent.self, "the page asks for a token and sends it") != nil)
        clientPath = (path.hasSuffix("/") ? path : path + "/") + "switchboard.js"
        settings["client"] = .string(clientPath)
        // JSON inside <script>: "<" escaped so that no value can close the element.
        let json = JSONValue.object(settings).jsonText.replacingAll("<", with: "\\u003c")
        iconPath = path == "/" ? "/favicon.ico" : (path.hasSuffix("/") ? path : path + "/") + "favicon.ico"
        let html = ChatPage.html.replacingAll("{{CONFIG}}", with: json).replacingAll("{{TITLE}}", with: Self.escapeHTML(title))
            .replacingAll("{{ICON}}", with: Self.escapeHTML(iconPath))
        body = ByteBuffer(string: html)
        context.claimRoute("GET", path)
        context.claimRoute("GET", iconPath)
        context.claimRoute("GET", clientPath)
    }

    /// The component type.
    public static let type = ComponentType("page", summary: "GET /: the chat page.") { PageEndpoint($0) }

    static func escapeHTML(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    public func start() async throws {
        let body = self.body
        let icon = HTTPRoute(.get, iconPath) { _, _ in
            var h = HTTPFields()
            h[.contentType] = "image/svg+xml"
            h[.cacheControl] = "public, max-age=86400"
            return Response(status: .ok, headers: h, body: ResponseBody(byteBuffer: Self.icon))
        }
        let client = HTTPRoute(.get, clientPath) { _, _ in
            var h = HTTPFields()
            h[.contentType] = "text/javascript; charset=utf-8"
            h[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: h, body: ResponseBody(byteBuffer: Self.client))
        }
        try mount.mount([icon, client, HTTPRoute(.get, path) { _, _ in
            var h = HTTPFields()
            h[.contentType] = "text/html; charset=utf-8"
            h[.cacheControl] = "no-cache"
            h[HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:"
            return Response(status: .ok, headers: h, body: ResponseBody(byteBuffer: body))
        }])
    }

    public func inspect() async -> JSONValue {
        ["path": .string(path), "bytes": .int(body.readableBytes), "client": .string(clientPath)]
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        components(separatedBy: target).joined(separator: replacement)
    }
}

/// The component types of the web edge.
public enum WebComponents {
    /// `http-server`, `publish`, `sse`, `websocket`, `page`, `webhook-in`, `webhook-out`, `history`, `health`, `metrics`, `auth`, `presence`.
    public static var types: [ComponentType] {
        [HTTPServerComponent.type, PublishEndpoint.type, SSEEndpoint.type, WebSocketEndpoint.type, PageEndpoint.type,
         WebhookInEndpoint.type, WebhookOutComponent.type, HistoryEndpoint.type,
         HealthEndpoint.type, MetricsEndpoint.type, AuthComponent.type, PresenceComponent.type]
    }
}
