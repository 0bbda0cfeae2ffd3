import Switchboard
import Synchronization

/// A component for tests: records `start <name>` and `stop <name>`, fails on request, and
/// takes any slots written under `"using"`.
///
/// ```json
/// "a": { "type": "fake", "failStart": true, "using": { "db": "b" } }
/// ```
/// Fields: `failStart`, `failStop` (booleans), `barrier` (the name of a `Barrier` to meet in
/// `start`), `updatable` (any value; changing it is an in-place update), `note` (any value;
/// changing it needs a restart).
public final class FakeComponent: Component {
    /// The component's name.
    public let name: String
    let recorder: Recorder
    let failStart: Bool
    let failStop: Bool
    let barrier: Barrier?
    let runtime: ComponentRuntime
    let counts = Mutex<(starts: Int, stops: Int, updates: Int, running: Bool)>((0, 0, 0, false))
    /// Whether start met its barrier (every party arrived), when it has one.
    public let metBarrier = Mutex<Bool?>(nil)

    init(_ context: ComponentContext, recorder: Recorder, barriers: [String: Barrier]) {
        name = context.name
        self.recorder = recorder
        failStart = context.config.bool("failStart", default: false)
        failStop = context.config.bool("failStop", default: false)
        barrier = context.config.string("barrier").flatMap { barriers[$0] }
        _ = context.config.value("updatable")
        _ = context.config.value("note")
        runtime = context.runtime
        for slot in context.using.keys.sorted() {
            _ = context.dependency(slot, as: (any Component).self)
        }
    }

    /// The `fake` type, recording into `recorder`; `barriers` are met by name.
    public static func type(recorder: Recorder, barriers: [String: Barrier] = [:]) -> ComponentType {
        ComponentType("fake", summary: "A test double.", updatableFields: ["updatable"]) {
            FakeComponent($0, recorder: recorder, barriers: barriers)
        }
    }

    public func start() async throws {
        recorder.record("start \(name)")
        if let barrier { metBarrier.withLock { $0 = nil }; let met = await barrier.arrive(); metBarrier.withLock { $0 = met } }
        if failStart { throw FakeFailure(what: "start", name: name) }
        counts.withLock { $0.starts += 1; $0.running = true }
    }

    public func stop() async throws {
        recorder.record("stop \(name)")
        counts.withLock { $0.stops += 1; $0.running = false }
        if failStop { throw FakeFailure(what: "stop", name: name) }
    }

    public func update(_ config: ConfigReader) async throws {
        recorder.record("update \(name)")
        counts.withLock { $0.updates += 1 }
    }

    public func inspect() async -> JSONValue {
        let c = counts.withLock { $0 }
        return ["starts": .int(c.starts), "stops": .int(c.stops), "updates": .int(c.updates)]
    }

    /// Reports a failure while running, as a real component would after losing its socket.
    public func crash(_ why: String = "crashed") {
        runtime.fail(FakeFailure(what: why, name: name))
    }

    /// How many times `start` succeeded.
    public var starts: Int { counts.withLock { $0.starts } }
}

/// The error fakes throw.
public struct FakeFailure: Error, CustomStringConvertible {
    public let what: String
    public let name: String
    public var description: String { "\(name): \(what) failed on purpose" }
}

/// Builds systems from inline JSON for tests.
public enum TestSystems {
    /// A registry holding `fake` (recording into `recorder`) plus `types`.
    public static func registry(recorder: Recorder, barriers: [String: Barrier] = [:], types: [ComponentType] = []) -> ComponentRegistry {
        var r = ComponentRegistry()
        r.register(FakeComponent.type(recorder: recorder, barriers: barriers))
        r.register(types)
        return r
    }

    /// Loads `json` with `registry`.
    public static func load(_ json: String, registry: ComponentRegistry, environment: [String: String] = [:]) throws(ConfigErrors) -> BuiltSystem {
        try SystemLoader(registry: registry, environment: environment, logger: .expectingFailures).load(text: json)
    }

    /// The issues `json` has, or an empty list when it is valid.
    public static func issues(_ json: String, registry: ComponentRegistry, environment: [String: String] = [:]) -> [ConfigIssue] {
        do {
            _ = try load(json, registry: registry, environment: environment)
            return []
        } catch {
            return error.issues
        }
    }
}
