/// A type that stands for several components (Integrant's `expand-key`): a component of this
/// type in `system.json` is replaced, before anything is checked or built, by the components
/// its `expand` returns, named `<module>.<local>` (`chat.inbox`, `chat.fanout`, …).
///
/// What `check --show`, `graph`, `status`, the console and a reload see is the expansion. The
/// module's object may hold `"overrides": {"<local>": {…}}`: a JSON Merge Patch over that
/// component (`{"inbox": {"buffer": 4096}}`); a local name the module does not make is an error.
///
/// ```swift
/// registry.register(module: ModuleType("pair", summary: "a channel and a mult over it") { m in
///     [("inbox", ["type": "channel", "buffer": m.config.raw("buffer") ?? 64]),
///      ("fanout", ["type": "mult", "using": ["source": .string(m.component("inbox"))]])]
/// })
/// ```
public struct ModuleType: Sendable {
    /// The name `system.json` uses in `type`.
    public let name: String
    /// One line for `check` and the documentation.
    public let summary: String
    let expand: @Sendable (ModuleContext) -> [(String, JSONObject)]

    /// A module type: `expand` reads the module's fields from its context and returns its
    /// components by local name, in order, each a component object (with `using` naming the
    /// others by `component(_:)`).
    public init(_ name: String, summary: String, expand: @escaping @Sendable (ModuleContext) -> [(String, JSONObject)]) {
        self.name = name
        self.summary = summary
        self.expand = expand
    }
}

/// What a module's `expand` sees: its name and its fields.
public struct ModuleContext {
    /// The module's name in `components`.
    public let name: String
    /// Its fields (`type` and `overrides` are the loader's). Copy values with `raw(_:)` so that
    /// `$env` and `$var` references reach the components as written; unknown fields are
    /// reported as for a component.
    public let config: ConfigReader

    /// The full name of the module's component `local`: `chat.inbox`.
    public func component(_ local: String) -> String { "\(name).\(local)" }
}
