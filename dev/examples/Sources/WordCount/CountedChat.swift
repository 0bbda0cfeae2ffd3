import Switchboard

/// The `counted-chat` module: a channel, a mult over it, a server with a publish endpoint
/// and an SSE stream, and a word counter on the mult — `<name>.inbox`, `<name>.fanout`,
/// `<name>.http`, `<name>.publish`, `<name>.events`, `<name>.counter`.
///
/// ```json
/// "chat": { "type": "counted-chat", "port": { "$var": "port" }, "minLength": 3 }
/// ```
public enum CountedChat {
    public static let type = ModuleType("counted-chat", summary: "A chat (publish, SSE) whose words are counted.") { m in
        let c = m.config
        return [
            ("inbox", ["type": "channel", "buffer": c.raw("buffer") ?? 256]),
            ("fanout", ["type": "mult", "using": ["source": .string(m.component("inbox"))]]),
            ("http", ["type": "http-server", "host": c.raw("host") ?? "127.0.0.1", "port": c.raw("port") ?? 8080]),
            ("publish", ["type": "publish", "using": ["server": .string(m.component("http")), "channel": .string(m.component("inbox"))]]),
            ("events", ["type": "sse", "using": ["server": .string(m.component("http")), "source": .string(m.component("fanout"))]]),
            ("counter", ["type": "word-counter", "minLength": c.raw("minLength") ?? 1, "using": ["source": .string(m.component("fanout"))]]),
        ]
    }
}

extension ComponentRegistry {
    /// Adds this package's types and modules to `registry` (the built-in ones, say).
    public static func withWordCount(_ registry: ComponentRegistry) -> ComponentRegistry {
        var r = registry
        r.register(WordCounter.type)
        r.register(module: CountedChat.type)
        return r
    }
}
