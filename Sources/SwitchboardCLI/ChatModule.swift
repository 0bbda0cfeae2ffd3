import Switchboard

/// The `chat` module: the chat server the root `system.json` spells out, as one component.
///
/// ```json
/// "chat": { "type": "chat", "port": { "$var": "port" }, "store": "data/chat.sqlite", "auth": null }
/// ```
///
/// It makes `chat.inbox` (channel with the chat transforms), `chat.fanout` (mult),
/// `chat.archive` (store, unless `store` is null), `chat.http` (http-server), `chat.publish`,
/// `chat.history` (with a store), `chat.events` (sse), `chat.socket` (websocket), `chat.hooks`
/// (webhook-in), `chat.page`, and with `ops` (a port, or null for none) `chat.ops`,
/// `chat.metrics` and `chat.health`; with `auth` (an `auth` component's fields) `chat.auth`,
/// which every endpoint then uses.
enum ChatModule {
    static let type = ModuleType("chat", summary: "the chat server of the root system.json, as one component: channel, mult, store, endpoints, page, ops") { m in
        let c = m.config
        func raw(_ key: String, _ fallback: JSONValue) -> JSONValue {
            guard let v = c.raw(key), v != .null else { return fallback }
            return v
        }
        // A part's field: absent takes the default, `null` turns the part off.
        func part(_ key: String, _ fallback: JSONValue?) -> JSONValue? {
            guard let v = c.raw(key) else { return fallback }
            if v == .null { return Optional<JSONValue>.none }
            return v
        }
        let store = part("store", "data/chat.sqlite")
        let auth = part("auth", Optional<JSONValue>.none)
        let ops = part("ops", 9090)
        let webhookSecret = raw("webhookSecret", ["$env": "SWITCHBOARD_WEBHOOK_SECRET", "optional": true])
        let transforms = raw("transforms", ["trim", ["censor": ["words": ["darn", "heck"]]], "autocorrect", "emoticons", "code"])

        func using(_ slots: KeyValuePairs<String, String>, store storeSlots: [String] = [], auth authSlot: Bool = true) -> JSONValue {
            var o = JSONObject()
            for (slot, local) in slots { o[slot] = .string(m.component(local)) }
            if store != nil { for slot in storeSlots { o[slot] = .string(m.component("archive")) } }
            if auth != nil, authSlot { o["auth"] = .string(m.component("auth")) }
            return .object(o)
        }
        var parts: [(String, JSONObject)] = []
        if case .object(var a)? = auth {
            a["type"] = "auth"
            parts.append(("auth", a))
        }
        parts.append(("inbox", ["type": "channel", "buffer": ["size": raw("buffer", 1024), "policy": "fixed"], "transforms": transforms]))
        parts.append(("fanout", ["type": "mult", "using": ["source": .string(m.component("inbox"))], "tapDefaults": ["policy": "dropOldest", "capacity": 256]]))
        if let store {
            parts.append(("archive", ["type": "store", "engine": "sqlite", "path": store, "retention": raw("retention", ["maxAge": "7d", "maxMessages": 1_000_000]),
                                      "using": ["source": .string(m.component("fanout"))]]))
        }
        parts.append(("http", ["type": "http-server", "host": raw("host", "127.0.0.1"), "port": raw("port", 8080)]))
        parts.append(("publish", ["type": "publish", "path": "/messages", "using": using(["server": "http", "channel": "inbox"], store: ["store"])]))
        if store != nil {
            parts.append(("history", ["type": "history", "path": "/history", "using": using(["server": "http"], store: ["store"])]))
        }
        parts.append(("events", ["type": "sse", "path": "/events", "heartbeat": "15s", "history": 1000,
                                 "using": using(["server": "http", "source": "fanout"], store: ["history"])]))
        parts.append(("socket", ["type": "websocket", "path": "/ws", "using": using(["server": "http", "source": "fanout", "channel": "inbox"], store: ["store", "history"])]))
        parts.append(("hooks", ["type": "webhook-in", "path": "/webhooks/in", "verify": "standard", "secret": webhookSecret,
                                "map": ["text": "text", "from": "from", "room": "room"],
                                "using": using(["server": "http", "channel": "inbox"], store: ["store"], auth: false)]))
        if let ops {
            parts.append(("ops", ["type": "http-server", "host": "127.0.0.1", "port": ops]))
            parts.append(("metrics", ["type": "metrics", "path": "/metrics", "using": ["server": .string(m.component("ops"))]]))
            parts.append(("health", ["type": "health", "using": ["server": .string(m.component("ops"))]]))
        }
        var page: JSONObject = ["type": "page", "path": "/", "websocket": "/ws", "using": ["server": .string(m.component("http"))]]
        if store != nil { page["history"] = "/history" }
        parts.append(("page", page))
        return parts
    }
}
