/// Starting and stopping the whole system or one component.
extension SystemMap {
    /// Starts every component that is not running, dependencies first; components with no
    /// path between them start concurrently.
    ///
    /// - Throws: `StartFailure` after rolling back: what this call started is stopped again,
    ///   in reverse order, and the report names the failure, the rolled-back components and
    ///   those that never started.
    public func start() async throws(StartFailure) {
        try await exclusively { () async throws(StartFailure) in
            try await startAndRollBack(Set(names.filter { nodes[$0]?.state != .running }))
        }
    }

    /// Stops every component that is not stopped, dependents first. Stop errors are recorded
    /// and the shutdown carries on.
    @discardableResult
    public func stop() async -> StopReport {
        await exclusively { await stopAll() }
    }

    /// Stops every component that is not stopped (inside an exclusive operation).
    private func stopAll() async -> StopReport {
        for name in names { nodes[name]?.cascaded = false }
        return await stopSet(Set(names.filter { nodes[$0]?.state != .stopped }))
    }

    /// A graceful shutdown: every running component drains first (inputs refuse new
    /// messages with 503, buffers empty into their consumers) for at most `drainFor`, then
    /// everything stops, dependents first.
    @discardableResult
    public func shutdown(drainFor: Duration) async -> StopReport {
        await exclusively {
            let deadline = clock.now + drainFor
            let running = names.compactMap { name in nodes[name].flatMap { $0.state == .running ? $0.instance : nil } }
            note("draining before the stop (at most \(drainFor.short))")
            await withTaskGroup(of: Void.self) { group in
                for component in running { group.addTask { await component.drain(until: deadline) } }
            }
            return await stopAll()
        }
    }

    /// Stops and starts the whole system.
    public func restart() async throws(StartFailure) {
        await stop()
        try await start()
    }

    /// Starts one component: first what it uses that is not running, then the component,
    /// then the dependents that were stopped because it (or one of its dependencies) stopped.
    public func start(_ name: String) async throws {
        try checkKnown(name)
        try await exclusively { () async throws in
            var set = Set([name]).union(spec.graph.transitiveDependencies(of: name)).filter { nodes[$0]?.state != .running }
            for dependent in spec.graph.ordered(spec.graph.transitiveDependents(of: name)) where nodes[dependent]?.cascaded == true {
                let deps = spec.graph.dependencies(of: dependent)
                if deps.allSatisfy({ set.contains($0) || nodes[$0]?.state == .running }) { set.insert(dependent) }
            }
            try await startAndRollBack(set)
        }
    }

    /// Stops one component after its dependents (which are marked to come back with it).
    @discardableResult
    public func stop(_ name: String) async throws -> StopReport {
        try checkKnown(name)
        return await exclusively {
            let dependents = spec.graph.transitiveDependents(of: name).filter { nodes[$0]?.state != .stopped }
            for d in dependents { nodes[d]?.cascaded = true }
            nodes[name]?.cascaded = false
            return await stopSet(dependents.union([name]))
        }
    }

    /// Stops one component and its running dependents, then starts them all again.
    public func restart(_ name: String) async throws {
        try checkKnown(name)
        try await exclusively { () async throws in
            let dependents = spec.graph.transitiveDependents(of: name).filter { nodes[$0]?.state != .stopped }
            await stopSet(dependents.union([name]))
            let needed = spec.graph.transitiveDependencies(of: name).filter { nodes[$0]?.state != .running }
            try await startAndRollBack(dependents.union([name]).union(needed))
        }
    }

    func checkKnown(_ name: String) throws(UnknownComponent) {
        guard nodes[name] != nil else { throw UnknownComponent(name: name, known: names) }
    }

    // MARK: Engines

    /// Starts `set`, rolling back what it started if one start fails.
    func startAndRollBack(_ set: Set<String>) async throws(StartFailure) {
        let outcome = await startSet(set)
        guard let (failed, error) = outcome.failure else {
            // Everything is running: consumers are back before producers move anything.
            for name in spec.graph.ordered(Set(outcome.started)) { await nodes[name]?.instance.activate() }
            return
        }
        let report = await stopSet(Set(outcome.started), rollback: true)
        await nodes[failed]?.instance.stopQuietly()
        let failure = StartFailure(
            component: failed, error: error,
            rolledBack: outcome.started,
            neverStarted: spec.graph.ordered(outcome.pending),
            rollbackErrors: report.errors)
        note("start failed and was rolled back: \(failure.description)")
        throw failure
    }

    /// Starts the components of `set` as soon as everything each uses is running, several
    /// at a time. After a failure nothing new is launched; what is in flight finishes.
    func startSet(_ set: Set<String>) async -> (started: [String], failure: (String, any Error)?, pending: Set<String>) {
        var started: [String] = []
        var failure: (String, any Error)?
        let pending = await schedule(set, inStartOrder: true) { name, pending in
            spec.graph.dependencies(of: name).allSatisfy { !pending.contains($0) && nodes[$0]?.state == .running }
        } launch: { name, component in
            transition(name, to: .starting)
            let state = carried.removeValue(forKey: name)?.state
            return {
                if let state { try await component.resume(from: state) } else { try await component.start() }
                return nil
            }
        } land: { name, result, _ in
            switch result {
            case .success(let duration):
                started.append(name)
                transition(name, to: .running, duration: duration)
            case .failure(let error):
                transition(name, to: .failed(ComponentFailure(.start, error)))
                if failure == nil { failure = (name, error) }
            }
            return failure == nil
        }
        return (started, failure, pending)
    }

    /// Stops the components of `set` once everything in the set that uses each has stopped,
    /// several at a time, recording errors and carrying on. Those in `suspending` suspend
    /// instead, and what they hand on waits in `carried` for their replacement.
    @discardableResult
    func stopSet(_ set: Set<String>, rollback: Bool = false, suspending: Set<String> = []) async -> StopReport {
        var stopped: [String] = []
        var errors: [String: String] = [:]
        await schedule(set, inStartOrder: false) { name, pending in
            spec.graph.dependents(of: name).allSatisfy { !pending.contains($0) && nodes[$0]?.state != .stopping }
        } launch: { name, component in
            transition(name, to: .stopping)
            let suspend = suspending.contains(name)
            return {
                if suspend { return try await component.suspend() }
                try await component.stop()
                return nil
            }
        } land: { name, result, state in
            stopped.append(name)
            if let state, let instance = nodes[name]?.instance { carried[name] = (state, instance) }
            switch result {
            case .success(let duration): transition(name, to: .stopped, duration: duration)
            case .failure(let error):
                errors[name] = "\(error)"
                transition(name, to: .failed(ComponentFailure(.stop, error)))
            }
            return true
        }
        return StopReport(stopped: stopped, errors: errors)
    }

    /// The one scheduler of starts and stops: runs each component of `set` as soon as
    /// `isReady` says so (given what is still pending), several at a time, in start order or
    /// its reverse. `launch` marks the component and returns its work; `land` records the
    /// outcome (timed) and says whether to launch more. Returns what was never launched.
    @discardableResult
    private func schedule(
        _ set: Set<String>, inStartOrder: Bool,
        isReady: (String, Set<String>) -> Bool,
        launch: (String, any Component) -> @Sendable () async throws -> (any Sendable)?,
        land: (String, Result<Duration, any Error>, (any Sendable)?) -> Bool
    ) async -> Set<String> {
        var pending = set
        var launching = true
        await withTaskGroup(of: (String, Result<Duration, any Error>, (any Sendable)?).self) { group in
            var inFlight = 0
            while true {
                if launching {
                    let ordered = spec.graph.ordered(pending)
                    for name in (inStartOrder ? ordered : ordered.reversed()).filter({ isReady($0, pending) }) {
                        guard let component = nodes[name]?.instance else { continue }
                        pending.remove(name)
                        inFlight += 1
                        let work = launch(name, component)
                        let clock = self.clock
                        group.addTask {
                            let t0 = clock.now
                            do {
                                let kept = try await work()
                                return (name, .success(clock.now - t0), kept)
                            } catch {
                                return (name, .failure(error), nil)
                            }
                        }
                    }
                }
                guard inFlight > 0, let (name, result, kept) = await group.next() else { break }
                inFlight -= 1
                launching = land(name, result, kept) && launching
            }
        }
        return pending
    }
}

extension Component {
    /// Calls `stop()` and ignores its error (cleanup after a failed start).
    func stopQuietly() async {
        try? await stop()
    }
}
