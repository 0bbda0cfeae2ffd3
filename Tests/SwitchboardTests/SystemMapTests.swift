import Logging
import Switchboard
import SwitchboardTesting
import Testing

/// Start order, stop order, rollback and per-component operations, with fakes that record.
@Suite struct SystemMapTests {
    let recorder = Recorder()

    /// web → api → (db, cache); worker → db. `failing` makes that component's start throw.
    func makeMap(failStart: String? = nil, failStop: String? = nil, barriers: [String: Barrier] = [:], json: String? = nil) throws -> SystemMap {
        let fail = { (name: String) -> String in
            (failStart == name ? #", "failStart": true"# : "") + (failStop == name ? #", "failStop": true"# : "")
        }
        let text = json ?? """
            {"components": {
              "db": {"type": "fake"\(fail("db"))},
              "cache": {"type": "fake"\(fail("cache"))},
              "api": {"type": "fake", "using": {"db": "db", "cache": "cache"}\(fail("api"))},
              "web": {"type": "fake", "using": {"api": "api"}\(fail("web"))},
              "worker": {"type": "fake", "using": {"db": "db"}\(fail("worker"))}
            }}
            """
        let system = try TestSystems.load(text, registry: TestSystems.registry(recorder: recorder, barriers: barriers))
        return SystemMap(system, logger: .expectingFailures)
    }

    func position(_ name: String, in list: [String]) -> Int { list.firstIndex(of: name) ?? -1 }

    @Test func startsDependenciesFirst() async throws {
        let map = try makeMap()
        try await map.start()
        let started = recorder.events("start ")
        #expect(Set(started) == ["db", "cache", "api", "web", "worker"])
        #expect(position("db", in: started) < position("api", in: started))
        #expect(position("cache", in: started) < position("api", in: started))
        #expect(position("api", in: started) < position("web", in: started))
        #expect(position("db", in: started) < position("worker", in: started))
        #expect(await map.systemState == .running)
    }

    @Test func stopsInReverseOrder() async throws {
        let map = try makeMap()
        try await map.start()
        let report = await map.stop()
        let stopped = recorder.events("stop ")
        #expect(report.stopped == stopped)
        #expect(position("web", in: stopped) < position("api", in: stopped))
        #expect(position("api", in: stopped) < position("db", in: stopped))
        #expect(position("api", in: stopped) < position("cache", in: stopped))
        #expect(position("worker", in: stopped) < position("db", in: stopped))
        #expect(await map.systemState == .stopped)
    }

    @Test func startsIndependentComponentsConcurrently() async throws {
        let barrier = Barrier(parties: 2)
        let json = #"{"components": {"a": {"type": "fake", "barrier": "b"}, "b": {"type": "fake", "barrier": "b"}}}"#
        let map = try makeMap(barriers: ["b": barrier], json: json)
        try await map.start()
        // Each start waits at the barrier for the other: both get through only if both ran at once.
        for name in ["a", "b"] {
            let fake = try #require(await map.instance(named: name) as? FakeComponent)
            #expect(fake.metBarrier.withLock { $0 } == true)
        }
    }

    @Test func rollsBackAFailedStartAndReportsWhatHappened() async throws {
        let map = try makeMap(failStart: "api")
        do {
            try await map.start()
            Issue.record("start should have failed")
        } catch {
            #expect(error.component == "api")
            // The component's own error, typed, not its text.
            let fake = try #require(error.error as? FakeFailure)
            #expect((fake.name, fake.what) == ("api", "start"))
            #expect(Set(error.rolledBack) == ["db", "cache", "worker"])
            #expect(error.neverStarted == ["web"])
        }
        // What started was stopped again, dependents first.
        let stopped = recorder.events("stop ")
        #expect(Set(stopped).isSuperset(of: ["db", "cache", "worker"]))
        #expect(position("worker", in: stopped) < position("db", in: stopped))
        #expect(!recorder.events("start ").contains("web"))
        #expect(await map.state(of: "db") == .stopped)
        #expect(await map.state(of: "api")?.name == "failed")
        #expect(await map.events().contains { $0.kind == .note && ($0.message ?? "").contains("rolled back") })
    }

    @Test func recordsStopErrorsAndCarriesOn() async throws {
        let map = try makeMap(failStop: "api")
        try await map.start()
        let report = await map.stop()
        #expect(report.errors.keys.sorted() == ["api"])
        #expect(Set(report.stopped) == ["db", "cache", "api", "web", "worker"])
        #expect(await map.state(of: "db") == .stopped)
    }

    @Test func stoppingOneComponentStopsItsDependentsFirst() async throws {
        let map = try makeMap()
        try await map.start()
        recorder.reset()
        let report = try await map.stop("db")
        #expect(Set(report.stopped) == ["db", "api", "web", "worker"])
        #expect(report.stopped.last == "db")
        #expect(position("web", in: report.stopped) < position("api", in: report.stopped))
        #expect(await map.state(of: "cache") == .running)
        #expect(await map.systemState == .partial)
    }

    @Test func startingOneComponentBringsBackWhatItsStopTookDown() async throws {
        let map = try makeMap()
        try await map.start()
        try await map.stop("db")
        recorder.reset()
        try await map.start("db")
        let started = recorder.events("start ")
        #expect(Set(started) == ["db", "api", "web", "worker"])
        #expect(started.first == "db")
        #expect(await map.systemState == .running)
    }

    @Test func startingOneComponentStartsWhatItUses() async throws {
        let map = try makeMap()
        try await map.start("api")
        #expect(Set(recorder.events("start ")) == ["db", "cache", "api"])
        #expect(await map.state(of: "web") == .stopped)
    }

    @Test func restartingOneComponentRestartsItsDependents() async throws {
        let map = try makeMap()
        try await map.start()
        recorder.reset()
        try await map.restart("api")
        #expect(recorder.events == ["stop web", "stop api", "start api", "start web"])
        #expect(await map.systemState == .running)
    }

    @Test func stopIsSafeOnAComponentThatNeverStarted() async throws {
        let map = try makeMap()
        let report = await map.stop()
        #expect(report.errors.isEmpty)
        try await map.start()
        await map.stop()
        await map.stop()
        #expect(await map.systemState == .stopped)
    }

    @Test func aComponentThatFailsWhileRunningIsMarkedFailedAndTheRestRuns() async throws {
        let map = try makeMap()
        try await map.start()
        let cache = try #require(await map.instance(named: "cache") as? FakeComponent)
        cache.crash("lost its connection")
        // The report travels through a task: wait for the state change, not for a time.
        while await map.state(of: "cache")?.name != "failed" { await Task.yield() }
        #expect(await map.state(of: "api") == .running)
        #expect(await map.systemState == .degraded)
        let status = await map.status()
        let row = try #require(status.arrayValue?.first { $0["name"] == "cache" })
        #expect(row["lastError"]?.stringValue?.contains("lost its connection") == true)
        // A failed component can be started again.
        try await map.restart("cache")
        #expect(await map.systemState == .running)
    }

    @Test func unknownComponentsAreClearErrors() async throws {
        let map = try makeMap()
        await #expect(throws: UnknownComponent.self) { try await map.start("dbb") }
        do {
            try await map.stop("dbb")
        } catch let error as UnknownComponent {
            #expect(error.description.contains(#"did you mean "db""#))
        }
    }

    @Test func inspectShowsStateTimingAndFigures() async throws {
        let map = try makeMap()
        try await map.start()
        let info = try await map.inspect("api")
        #expect(info["state"] == "running")
        #expect(info["startDurationMs"]?.doubleValue != nil)
        #expect(info["dependencies"] == ["cache": "cache", "db": "db"])
        #expect(info["dependents"] == ["web"])
        #expect(info["figures"]?["starts"] == 1)
        #expect(info["config"]?["type"] == "fake")
    }

    @Test func logsEveryTransitionWithDurations() async throws {
        let map = try makeMap()
        try await map.start()
        await map.stop()
        let events = await map.events()
        let db = events.filter { $0.component == "db" }.map(\.kind)
        #expect(db == [.starting, .running, .stopping, .stopped])
        #expect(events.first { $0.kind == .running }?.duration != nil)
    }

    @Test func operationsRunOneAtATime() async throws {
        let map = try makeMap()
        async let a: Void = map.start()
        async let b: Void = map.restart("api")
        async let c = map.stop("web")
        _ = try await (a, b, c)
        // Whatever the order they ran in, every component ends in a settled state.
        for name in await map.names {
            let state = await map.state(of: name)
            #expect(state == .running || state == .stopped)
        }
    }
}
