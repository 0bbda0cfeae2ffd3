import Switchboard
import SwitchboardTesting
import Testing

/// Every configuration problem is reported by reason and JSON path, all at once.
@Suite struct ValidationTests {
    let recorder = Recorder()
    var registry: ComponentRegistry {
        var r = TestSystems.registry(recorder: recorder)
        r.register(ComponentType("db") { _ in Database() })
        r.register(ComponentType("cache") { c in Cache(c) })
        return r
    }

    func issues(_ json: String, env: [String: String] = [:]) -> [ConfigIssue] {
        TestSystems.issues(json, registry: registry, environment: env)
    }

    func reasons(_ json: String) -> [String: ConfigIssue.Reason] {
        Dictionary(issues(json).map { ($0.path.description, $0.reason) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func acceptsAValidSystem() {
        #expect(issues(#"{"components": {"a": {"type": "db"}, "b": {"type": "cache", "using": {"store": "a"}, "size": 3, "label": "x"}}}"#).isEmpty)
    }

    @Test func reportsSyntaxErrorsWithLineAndColumn() {
        let found = issues("{\"components\": {\n  \"a\": {\"type\": \"db\",}\n}}")
        #expect(found.map(\.reason) == [.syntax])
        #expect(found.first?.message.contains("line 2") == true)
    }

    @Test func suggestsTheClosestUnknownType() throws {
        let found = issues(#"{"components": {"a": {"type": "dbb"}}}"#)
        let issue = try #require(found.first)
        #expect(issue.reason == .unknownType)
        #expect(issue.path.description == "components.a.type")
        #expect(issue.message.contains(#"did you mean "db""#))
    }

    @Test func reportsUnknownMissingAndMistypedFields() {
        let found = reasons(#"""
            {"components": {
              "c": {"type": "cache", "using": {"store": "d"}, "size": "big", "sise": 2, "nested": {"deep": 1, "deeep": 2}},
              "d": {"type": "db"},
              "e": {}
            }, "nmae": "x"}
            """#)
        #expect(found["components.c.size"] == .wrongType)
        #expect(found["components.c.sise"] == .unknownField)
        #expect(found["components.c.nested.deeep"] == .unknownField)
        #expect(found["components.c.label"] == .missingField)
        #expect(found["components.e.type"] == .missingField)
        #expect(found["nmae"] == .unknownField)
    }

    @Test func reportsMissingDependenciesAndUnknownSlots() {
        let found = reasons(#"""
            {"components": {
              "db": {"type": "db"},
              "c": {"type": "cache", "label": "x", "using": {"stor": "db"}},
              "d": {"type": "cache", "label": "y", "using": {"store": "nothing"}}
            }}
            """#)
        #expect(found["components.c.using.stor"] == .unknownSlot)
        #expect(found["components.c.using.store"] == .missingDependency)
        #expect(found["components.d.using.store"] == .missingDependency)
    }

    @Test func refusesADependencyOfTheWrongKindNamingBothComponentsAndTheSlot() throws {
        let found = issues(#"{"components": {"f": {"type": "fake"}, "c": {"type": "cache", "label": "x", "using": {"store": "f"}}}}"#)
        let issue = try #require(found.first)
        #expect(found.count == 1)
        #expect(issue.reason == .wrongDependencyKind)
        #expect(issue.path.description == "components.c.using.store")
        #expect(issue.message.contains("\"c\"") && issue.message.contains("\"f\"") && issue.message.contains("store"))
    }

    @Test func namesEveryCycle() throws {
        let found = issues(#"""
            {"components": {
              "a": {"type": "fake", "using": {"x": "b"}},
              "b": {"type": "fake", "using": {"x": "c"}},
              "c": {"type": "fake", "using": {"x": "a"}},
              "s": {"type": "fake", "using": {"me": "s"}}
            }}
            """#)
        let cycles = found.filter { $0.reason == .dependencyCycle }
        #expect(cycles.count == 2)
        #expect(cycles.contains { $0.message.contains("a → b → c → a") && $0.path.description == "components.a.using" })
        #expect(cycles.contains { $0.message.contains("s → s") })
    }

    @Test func reportsDuplicateComponentNames() {
        let found = reasons(#"{"components": {"a": {"type": "db"}, "a": {"type": "db"}}}"#)
        #expect(found["components.a"] == .duplicateName)
    }

    @Test func readsEnvironmentValuesAndReportsUnsetOnes() throws {
        let json = #"{"components": {"c": {"type": "cache", "label": {"$env": "LABEL"}, "size": {"$env": "SIZE"}, "using": {"store": "d"}}, "d": {"type": "db"}}}"#
        #expect(issues(json, env: ["LABEL": "hello", "SIZE": "4"]).isEmpty)
        let found = issues(json, env: ["SIZE": "4"])
        #expect(found.map(\.reason) == [.envUnset])
        #expect(found.first?.path.description == "components.c.label")
        #expect(found.first?.message.contains("LABEL") == true)
    }

    @Test func neverPrintsSecretsBack() throws {
        let json = #"{"components": {"c": {"type": "cache", "label": {"$env": "LABEL"}, "password": "hunter2", "using": {"store": "d"}}, "d": {"type": "db"}}}"#
        let system = try TestSystems.load(json, registry: registry, environment: ["LABEL": "s3cret"])
        let shown = system.spec.maskedDocument().jsonText
        #expect(!shown.contains("hunter2"))
        #expect(!shown.contains("s3cret"))
        #expect(shown.contains("LABEL"))
    }

    @Test func reportsEveryProblemAtOnce() {
        let found = issues(#"""
            {"components": {
              "a": {"type": "fake", "using": {"x": "b"}},
              "b": {"type": "fake", "using": {"x": "a"}},
              "c": {"type": "nope"},
              "d": {"type": "fake", "using": {"x": "ghost"}}
            }}
            """#)
        #expect(Set(found.map(\.reason)) == [.dependencyCycle, .unknownType, .missingDependency])
    }

    @Test func refusesConflictingClaims() {
        var r = registry
        r.register(ComponentType("route") { c in
            c.claim("GET /x", described: "route GET /x")
            return Database()
        })
        let found = TestSystems.issues(#"{"components": {"a": {"type": "route"}, "b": {"type": "route"}}}"#, registry: r)
        #expect(found.map(\.reason) == [.conflict])
        #expect(found.first?.message.contains("\"a\"") == true)
    }

    @Test func reportsAnUnreadableFile() {
        #expect(throws: ConfigErrors.self) { try SystemLoader(registry: registry).load(file: "/nonexistent/system.json") }
    }
}

/// A dependency kind for the tests.
protocol Store: Component {}

final class Database: Store {
    func start() async throws {}
    func stop() async throws {}
}

final class Cache: Component {
    let store: Dependency<any Store>
    init(_ c: ComponentContext) {
        store = c.dependency("store", as: (any Store).self)
        _ = c.config.requiredString("label")
        _ = c.config.int("size", default: 1, in: 0...10)
        _ = c.config.secret("password")
        if let n = c.config.object("nested") { _ = n.int("deep") }
    }
    func start() async throws { _ = try store.get() }
    func stop() async throws {}
}

/// `Duration.configText`, what `check --show` writes a duration as: parsed back exactly, and
/// total over every duration (a huge negative one trapped in the conversion to Int64).
@Suite struct DurationTextTests {
    @Test func durationsAreWrittenAsTheFileWould() {
        #expect(Duration.seconds(604_800).configText == "7d")
        #expect(Duration.seconds(90).configText == "90s")
        #expect(Duration.milliseconds(250).configText == "250ms")
        #expect(Duration.seconds(Int64.min / 2).configText.isEmpty == false)
        #expect(Duration.seconds(Int64.max / 2).configText.isEmpty == false)
    }
}
