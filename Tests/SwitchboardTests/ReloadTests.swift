import Logging
import Switchboard
import SwitchboardTesting
import Testing

/// Reload plans and their application, with fakes that record.
@Suite struct ReloadTests {
    let recorder = Recorder()
    var registry: ComponentRegistry { TestSystems.registry(recorder: recorder) }

    static let before = #"""
        {"components": {
          "db": {"type": "fake"},
          "api": {"type": "fake", "using": {"db": "db"}, "updatable": 1},
          "web": {"type": "fake", "using": {"api": "api"}},
          "cache": {"type": "fake", "note": "x"},
          "old": {"type": "fake"},
          "calm": {"type": "fake"}
        }}
        """#

    static let after = #"""
        {"components": {
          "db": {"type": "fake"},
          "api": {"type": "fake", "using": {"db": "db"}, "updatable": 2},
          "web": {"type": "fake", "using": {"api": "api"}},
          "cache": {"type": "fake", "note": "y", "failStart": false},
          "fresh": {"type": "fake", "using": {"cache": "cache"}},
          "calm": {"type": "fake"}
        }}
        """#

    func running(_ json: String) async throws -> SystemMap {
        let map = SystemMap(try TestSystems.load(json, registry: registry), logger: .expectingFailures)
        try await map.start()
        recorder.reset()
        return map
    }

    func actions(_ plan: ReloadPlan) -> [String: ReloadPlan.Action] {
        Dictionary(uniqueKeysWithValues: plan.entries.map { ($0.name, $0.action) })
    }

    @Test func plansEachKindOfChange() async throws {
        let map = try await running(Self.before)
        let outcome = await map.reload(to: try TestSystems.load(Self.after, registry: registry), dryRun: true)
        let a = actions(outcome.plan)
        #expect(a["db"] == .unchanged)
        #expect(a["calm"] == .unchanged)
        #expect(a["api"] == .update)
        #expect(a["cache"] == .restart)
        #expect(a["fresh"] == .add)
        #expect(a["old"] == .remove)
        #expect(a["web"] == .unchanged)
        // A dry run changes nothing.
        #expect(recorder.events.isEmpty)
        #expect(await map.names.contains("old"))
    }

    @Test func dependentsOfRestartedComponentsRestart() async throws {
        let map = try await running(Self.before)
        let changed = Self.before.replacingOccurrences(of: #""db": {"type": "fake"}"#, with: #""db": {"type": "fake", "note": 1}"#)
        let plan = await map.reload(to: try TestSystems.load(changed, registry: registry), dryRun: true).plan
        let a = actions(plan)
        #expect(a["db"] == .restart)
        #expect(a["api"] == .restart)
        #expect(a["web"] == .restart)
        #expect(a["cache"] == .unchanged)
        #expect(plan.entries.first { $0.name == "web" }?.reason == "dependency api restarts")
    }

    @Test func applyTouchesOnlyWhatThePlanNames() async throws {
        let map = try await running(Self.before)
        let calm = try #require(await map.instance(named: "calm") as? FakeComponent)
        let api = try #require(await map.instance(named: "api") as? FakeComponent)
        let outcome = await map.reload(to: try TestSystems.load(Self.after, registry: registry))
        #expect(outcome.ok)
        #expect(Set(recorder.events("stop ")) == ["cache", "old"])
        #expect(Set(recorder.events("start ")) == ["cache", "fresh"])
        #expect(recorder.events("update ") == ["api"])
        // Untouched and updated components are the same instances, still running.
        #expect(await map.instance(named: "calm") === calm)
        #expect(await map.instance(named: "api") === api)
        #expect(calm.starts == 1)
        #expect(await map.names.contains("fresh"))
        #expect(!(await map.names.contains("old")))
        #expect(await map.systemState == .running)
        #expect(await map.spec.component("api")?.config["updatable"] == 2)
        // The new "fresh" resolves its dependency through the shared names.
        #expect(try await map.inspect("fresh")["dependencies"] == ["cache": "cache"])
    }

    @Test func aNoOpReloadDoesNothing() async throws {
        let map = try await running(Self.before)
        let outcome = await map.reload(to: try TestSystems.load(Self.before, registry: registry))
        #expect(outcome.ok)
        #expect(outcome.plan.isEmpty)
        #expect(recorder.events.isEmpty)
    }

    @Test func aFailedStartRestoresThePreviousSystem() async throws {
        let map = try await running(Self.before)
        let broken = Self.after.replacingOccurrences(of: #""fresh": {"type": "fake", "using": {"cache": "cache"}}"#,
                                                      with: #""fresh": {"type": "fake", "using": {"cache": "cache"}, "failStart": true}"#)
        let cacheBefore = try #require(await map.instance(named: "cache") as? FakeComponent)
        let outcome = await map.reload(to: try TestSystems.load(broken, registry: registry))
        #expect(!outcome.ok)
        guard case .start(let failure)? = outcome.failure else { Issue.record("not a start failure: \(String(describing: outcome.failure))"); return }
        #expect(failure.component == "fresh" && failure.error is FakeFailure)
        #expect(outcome.text.contains("rolled back"))
        // The old components and config are back, running.
        #expect(await map.names.contains("old"))
        #expect(!(await map.names.contains("fresh")))
        #expect(await map.instance(named: "cache") === cacheBefore)
        #expect(await map.spec.component("cache")?.config["note"] == "x")
        #expect(await map.spec.component("api")?.config["updatable"] == 1)
        #expect(recorder.events("update ") == ["api", "api"])  // applied, then reverted
        #expect(await map.systemState == .running)
        let notes = await map.events().compactMap(\.message)
        #expect(notes.contains { $0.contains("reload failed and was rolled back") })
    }
}
