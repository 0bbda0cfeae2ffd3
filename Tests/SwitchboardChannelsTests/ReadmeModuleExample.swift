import Switchboard

/// A module: `{"type": "ticking", "interval": "1s"}` becomes a channel, a ticker putting on it
/// and a mult over it, named `<module>.inbox`, `<module>.clock`, `<module>.fanout`.
enum Ticking {
    static let type = ModuleType("ticking", summary: "A channel with a ticker on it and a mult over it.") { m in
        [
            ("inbox", ["type": "channel", "buffer": m.config.raw("buffer") ?? 16]),
            ("clock", ["type": "ticker", "interval": m.config.raw("interval") ?? "1s",
                       "using": ["sink": .string(m.component("inbox"))]]),
            ("fanout", ["type": "mult", "using": ["source": .string(m.component("inbox"))]]),
        ]
    }
}
