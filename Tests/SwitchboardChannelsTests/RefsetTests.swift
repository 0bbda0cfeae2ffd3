import Switchboard
import SwitchboardChannels
import SwitchboardTesting
import Testing

/// A component with a slot that takes several sinks, for the refset tests.
final class Gatherer: Component {
    let sinks: [Dependency<any MessageSink>]?
    init(_ context: ComponentContext) {
        sinks = context.dependencies("sinks", as: (any MessageSink).self, "where to put")
    }
    static let type = ComponentType("gatherer", summary: "Takes several sinks.") { Gatherer($0) }
    func start() async throws {}
    func stop() async throws {}
}

/// A sink that takes everything: declares the capability "sink" and has it.
final class Bucket: MessageSink {
    static let type = ComponentType("bucket", summary: "Takes every message.", capabilities: ["sink"]) { _ in Bucket() }
    func start() async throws {}
    func stop() async throws {}
    func put(_ message: Message, timeout: Duration) async -> PutOutcome { .accepted }
}

/// Declares the capability "sink" without being one: the type's defect, which `check` names.
final class Liar: Component {
    static let type = ComponentType("liar", summary: "Says it is a sink.", capabilities: ["sink", "shiny"]) { _ in Liar() }
    func start() async throws {}
    func stop() async throws {}
}

/// Refsets (Integrant's `#ig/refset`): a slot filled by every component of a type, resolved
/// after modules are expanded; and slots that take a list.
@Suite struct RefsetTests {
    static var registry: ComponentRegistry {
        var r = ComponentRegistry()
        r.register(ChannelComponents.types())
        r.register(Gatherer.type)
        r.register(Bucket.type)
        r.register(capability: Capability("sink", summary: "takes messages", is: (any MessageSink).self))
        return r
    }

    func load(_ json: String) throws(ConfigErrors) -> BuiltSystem {
        try SystemLoader(registry: Self.registry, environment: [:], logger: .tests).load(text: json)
    }

    @Test func aRefsetNamesEveryComponentOfTheTypeInFileOrder() throws {
        let system = try load(#"""
            {"components": {
              "b": {"type": "channel"},
              "all": {"type": "gatherer", "using": {"sinks": {"$all": "channel"}}},
              "a": {"type": "channel"},
              "fan": {"type": "mult", "using": {"source": "a"}}
            }}
            """#)
        #expect(system.spec.component("all")?.usingAll == ["sinks": ["b", "a"]])
        #expect(system.spec.document["components"]?["all"]?["using"]?["sinks"] == ["b", "a"])
        #expect((system.instances["all"] as? Gatherer)?.sinks?.map(\.target) == ["b", "a"])
        // Both start before the gatherer.
        let levels = system.spec.graph.levels() ?? []
        #expect(levels.firstIndex { $0.contains("all") }! > levels.firstIndex { $0.contains("a") }!)
        #expect(system.spec.graph.edges.filter { $0.from == "all" }.map(\.to).sorted() == ["a", "b"])
        // None of the type: an empty set, not an error.
        let none = try load(#"{"components": {"all": {"type": "gatherer", "using": {"sinks": {"$all": "channel"}}}}}"#)
        #expect((none.instances["all"] as? Gatherer)?.sinks?.isEmpty == true)
    }

    @Test func refsetsAndListsAreCheckedLikeSlots() {
        let issues = TestSystems.issues(#"""
            {"components": {
              "a": {"type": "channel"},
              "fan": {"type": "mult", "using": {"source": ["a"]}},
              "g1": {"type": "gatherer", "using": {"sinks": {"$all": "chanel"}}},
              "g2": {"type": "gatherer", "using": {"sinks": {"$all": "mult"}}},
              "g3": {"type": "gatherer", "using": {"sinks": ["a", "ghost"]}}
            }}
            """#, registry: Self.registry)
        let text = issues.map(\.description)
        #expect(text.contains(#"components.fan.using.source: slot "source" of "fan" takes one component, not a list"#))
        #expect(text.contains(#"components.g1.using.sinks.$all: unknown component type or capability "chanel" (did you mean "channel"?)"#))
        #expect(text.contains(#"components.g2.using.sinks: slot "sinks" of "g2" takes MessageSinks, but "fan" is a mult"#))
        #expect(text.contains(#"components.g3.using.sinks[1]: no component named "ghost""#))
    }

    @Test func aRefsetByCapabilityTakesEveryComponentWhoseTypeDeclaresIt() throws {
        let system = try load(#"""
            {"components": {
              "b1": {"type": "bucket"},
              "c": {"type": "channel"},
              "b2": {"type": "bucket"},
              "all": {"type": "gatherer", "using": {"sinks": {"$all": "sink"}}}
            }}
            """#)
        // The channel is a MessageSink too, but its type does not declare "sink": a refset
        // goes by what types declare, so the file says what it selects.
        #expect(system.spec.component("all")?.usingAll == ["sinks": ["b1", "b2"]])
        #expect((system.instances["all"] as? Gatherer)?.sinks?.map(\.target) == ["b1", "b2"])
        #expect(Self.registry.capabilityNames == ["sink"])
    }

    @Test func aCapabilityIsCheckedAgainstWhatTheComponentIs() {
        var registry = Self.registry
        registry.register(Liar.type)
        let issues = TestSystems.issues(#"""
            {"components": {
              "l": {"type": "liar"},
              "g": {"type": "gatherer", "using": {"sinks": {"$all": "snk"}}},
              "h": {"type": "gatherer", "using": {"sinks": {"$all": "shiny"}}}
            }}
            """#, registry: registry).map(\.description)
        #expect(issues.contains(#"components.l.type: type "liar" declares capability "sink", but its component is not a MessageSink"#), "\(issues)")
        #expect(issues.contains(#"components.g.using.sinks.$all: unknown component type or capability "snk" (did you mean "sink"?)"#), "\(issues)")
        // "shiny" is declared but not registered: it selects, unchecked — and the slot's own
        // kind check still holds the liar to MessageSink.
        #expect(issues.contains(#"components.h.using.sinks: slot "sinks" of "h" takes MessageSinks, but "l" is a liar"#), "\(issues)")
        #expect(registry.capabilityNames == ["shiny", "sink"])
    }
}
