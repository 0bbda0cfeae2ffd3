import Synchronization

/// A component's reference to another one, filled by name through `"using"`.
///
/// The reference is looked up when used, so a dependency replaced by a reload (and the
/// dependent restarted for it) is seen by the dependent's next `start()`.
public struct Dependency<T>: @unchecked Sendable {
    /// The slot's name, as written in `"using"`.
    public let slot: String
    /// The name of the component that fills it.
    public let target: String
    let wiring: Wiring

    /// The dependency's current instance.
    ///
    /// Validation has checked its kind, so this fails only if the map was changed under it.
    public func get() throws -> T {
        guard let instance = wiring.instance(named: target) else {
            throw DependencyError.missing(slot: slot, target: target)
        }
        guard let typed = instance as? T else {
            throw DependencyError.wrongKind(slot: slot, target: target)
        }
        return typed
    }
}

/// A dependency could not be resolved at run time.
public enum DependencyError: Error, CustomStringConvertible {
    case missing(slot: String, target: String)
    case wrongKind(slot: String, target: String)

    public var description: String {
        switch self {
        case .missing(let slot, let target): "dependency \"\(target)\" (slot \(slot)) is not in the system"
        case .wrongKind(let slot, let target): "dependency \"\(target)\" (slot \(slot)) is of the wrong kind"
        }
    }
}

/// The current instance of every component by name, shared by the dependency references.
public final class Wiring: Sendable {
    private let instances = Mutex<[String: any Component]>([:])
    private let owner = Mutex<WeakMap>(WeakMap())
    let consoleRunner = Mutex<RemoteConsoleRunner?>(nil)

    private struct WeakMap: @unchecked Sendable {
        weak var map: SystemMap?
    }

    /// The map running these instances (set by the map; kept across reloads).
    var map: SystemMap? {
        get { owner.withLock { $0.map } }
        set { owner.withLock { $0.map = newValue } }
    }

    /// An empty table.
    public init() {}

    /// The instance named `name`, if any.
    public func instance(named name: String) -> (any Component)? {
        instances.withLock { $0[name] }
    }

    /// Every instance, by name.
    var all: [String: any Component] { instances.withLock { $0 } }

    /// Sets or removes (with `nil`) the instance named `name`.
    func set(_ name: String, _ instance: (any Component)?) {
        instances.withLock { $0[name] = instance }
    }
}

extension Dependency {
    /// A reference to `instance` outside any system map (tools and tests that use one
    /// component on its own).
    package static func constant(_ instance: any Component, named name: String) -> Dependency<T> {
        let wiring = Wiring()
        wiring.set(name, instance)
        return Dependency(slot: name, target: name, wiring: wiring)
    }
}
