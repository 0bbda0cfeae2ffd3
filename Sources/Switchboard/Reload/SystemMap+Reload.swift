import Foundation

/// What a reload did.
public struct ReloadOutcome: Sendable {
    /// The plan (computed, and applied unless `dryRun` or it failed).
    public let plan: ReloadPlan
    /// Whether only the plan was computed.
    public let dryRun: Bool
    /// Why the apply failed and was undone (`nil` on success).
    public let failure: ReloadFailure?

    /// Whether the new configuration is in force (or, for a dry run, could be).
    public var ok: Bool { failure == nil }

    public var text: String {
        if let failure { return "reload failed and was rolled back; the previous system is running\n\(failure)\nplan was:\n\(plan.text)" }
        return (dryRun ? "plan (dry run, nothing changed):\n" : "reloaded:\n") + plan.text
    }

    public var json: JSONValue {
        ["ok": .bool(ok), "dryRun": .bool(dryRun), "plan": plan.json, "failure": failure.map { .string($0.description) } ?? .null]
    }
}

/// Why a reload was rolled back: a component refused its new configuration in place, or the
/// components it started (or restarted) failed to start.
public enum ReloadFailure: Error, Sendable, CustomStringConvertible {
    case update(component: String, error: any Error)
    case start(StartFailure)

    public var description: String {
        switch self {
        case .update(let name, let error): "\"\(name)\" could not be updated in place: \(error)"
        case .start(let failure): failure.description
        }
    }
}

/// Applying a new `system.json` to a running map.
extension SystemMap {
    /// Reads the system file at `path` with `loader` and applies it (or, with `dryRun`, only
    /// plans it). An invalid file changes nothing: its problems are thrown, each with its path.
    public func reload(file path: String, loader: SystemLoader, dryRun: Bool = false) async throws(ConfigErrors) -> ReloadOutcome {
        await reload(to: try loader.load(file: path, wiring: wiring), dryRun: dryRun)
    }

    /// Like `reload(file:loader:dryRun:)`, for a document given as text.
    public func reload(text: String, source: String? = nil, loader: SystemLoader, dryRun: Bool = false) async throws(ConfigErrors) -> ReloadOutcome {
        await reload(to: try loader.load(text: text, source: source, wiring: wiring), dryRun: dryRun)
    }

    /// The map's name table, for building a new system whose instances resolve here.
    package nonisolated var sharedWiring: Wiring { wiring }

    /// Plans, and unless `dryRun` applies, `new` (built with `sharedWiring`).
    ///
    /// Components the plan does not touch keep running, with their connections. Removed and
    /// restarted components stop (dependents first), in-place updates are applied, then added
    /// and restarted ones start in dependency order. If anything fails, what the reload
    /// started is stopped, updates are reverted, the previous components and config come
    /// back and what was stopped is started again.
    /// How reloads ended, for `/metrics`: `applied`, `unchanged`, `rolledBack`, and `invalid`
    /// (a file that did not validate, counted by whoever read it).
    public enum ReloadResult: String, Sendable, CaseIterable {
        case applied, unchanged, rolledBack, invalid
    }

    /// Reloads so far, by how they ended.
    public var reloadCounts: [ReloadResult: Int] { reloads }

    /// Counts a reload that ended as `result`.
    public func countReload(_ result: ReloadResult) { reloads[result, default: 0] += 1 }

    package func reload(to new: BuiltSystem, dryRun: Bool = false) async -> ReloadOutcome {
        await exclusively {
            let types = new.types
            let plan = ReloadPlan(from: spec, to: new.spec) { typeName in
                types.values.first { $0.name == typeName }?.updatableFields ?? []
            }
            guard !dryRun else { return ReloadOutcome(plan: plan, dryRun: true, failure: nil) }
            guard !plan.isEmpty else {
                spec = new.spec
                refreshSpecs()
                note("reload: nothing to do")
                countReload(.unchanged)
                return ReloadOutcome(plan: plan, dryRun: false, failure: nil)
            }
            note("reload: applying\n" + plan.text)
            let failure = await apply(plan, new)
            await releaseCarried()
            note(failure.map { "reload failed and was rolled back: \($0)" } ?? "reload applied")
            countReload(failure == nil ? .applied : .rolledBack)
            return ReloadOutcome(plan: plan, dryRun: false, failure: failure)
        }
    }

    /// Applies `plan`; returns why it failed (after undoing it), or nil.
    private func apply(_ plan: ReloadPlan, _ new: BuiltSystem) async -> ReloadFailure? {
        let oldSpec = spec
        let oldNodes = nodes
        let leaving = Set(plan.names(.remove) + plan.names(.restart))
        let wasRunning = leaving.filter { oldNodes[$0]?.state == .running }
        // A restarted component of the same type hands its state to its replacement.
        let suspending = Set(plan.names(.restart).filter { oldSpec.component($0)?.type == new.spec.component($0)?.type })
        await stopSet(leaving.filter { nodes[$0]?.state != .stopped }, suspending: suspending)

        var updated: [String] = []
        var failure: ReloadFailure?
        for name in plan.names(.update) {
            guard let instance = nodes[name]?.instance, let c = new.spec.component(name) else { continue }
            do {
                try await instance.update(Self.reader(for: c))
                updated.append(name)
                record(LifecycleEvent(time: Date(), component: name, kind: .note, duration: nil, message: "updated in place"))
            } catch {
                failure = .update(component: name, error: error)
                break
            }
        }
        if failure == nil {
            install(new, replacing: leaving.union(plan.names(.add)))
            let starting = Set(plan.names(.add) + plan.names(.restart)).filter { nodes[$0]?.state != .running }
            do {
                try await startAndRollBack(starting)
                return nil
            } catch {
                failure = .start(error)
            }
        }
        // Undo: the new components stop (startAndRollBack already stopped what it started),
        // updates go back, the old components and spec return, and what ran runs again.
        await stopSet(Set(plan.names(.add) + plan.names(.restart)).filter { nodes[$0] != nil && nodes[$0]?.state != .stopped })
        for name in updated {
            guard let instance = oldNodes[name]?.instance, let c = oldSpec.component(name) else { continue }
            try? await instance.update(Self.reader(for: c))
        }
        restore(oldSpec, oldNodes)
        try? await startAndRollBack(wasRunning.filter { nodes[$0]?.state != .running })
        return failure
    }

    /// Hands what no replacement took back to the instances that suspended, before the
    /// reload returns (so the next operation never meets a half-released endpoint).
    private func releaseCarried() async {
        let left = carried
        carried = [:]
        for (_, c) in left { await c.from.release(c.state) }
    }

    static func reader(for component: ComponentSpec) -> ConfigReader {
        let reader = ConfigReader(component.config, at: component.path)
        reader.markKnown("type", "using")
        return reader
    }

    /// Puts the new spec in force: new instances for `replaced` (and added) names, new specs
    /// for everyone, removed names gone.
    private func install(_ new: BuiltSystem, replacing replaced: Set<String>) {
        for name in nodes.keys where new.spec.component(name) == nil {
            nodes[name] = nil
            wiring.set(name, nil)
        }
        for c in new.spec.components where replaced.contains(c.name) {
            guard let instance = new.instances[c.name], let type = new.types[c.name], let runtime = new.runtimes[c.name] else { continue }
            nodes[c.name] = Node(spec: c, type: type, instance: instance, runtime: runtime)
            wiring.set(c.name, instance)
            watchFailures(of: c.name, runtime)
        }
        spec = new.spec
        refreshSpecs()
    }

    private func restore(_ oldSpec: SystemSpec, _ oldNodes: [String: Node]) {
        for name in Set(nodes.keys).union(oldNodes.keys) {
            if let node = oldNodes[name] {
                var restored = node
                restored.state = nodes[name].map { ObjectIdentifier($0.instance) == ObjectIdentifier(node.instance) ? $0.state : .stopped } ?? .stopped
                nodes[name] = restored
                wiring.set(name, node.instance)
            } else {
                nodes[name] = nil
                wiring.set(name, nil)
            }
        }
        spec = oldSpec
    }

    /// Gives every node its component spec from the current system spec.
    private func refreshSpecs() {
        for c in spec.components { nodes[c.name]?.spec = c }
    }
}
