import HTTPTypes
import Hummingbird
import Switchboard
import Synchronization

/// The `health` endpoint: Kubernetes-style probes.
///
/// `GET /healthz` answers 200 while the process serves (liveness). `GET /readyz` answers 200
/// when every component is running and none is degraded (`Degradable`: a database away),
/// else 503 with the JSON list of those that are not and why (readiness); during a graceful
/// stop it turns 503 first, before anything stops. A `checks` slot limits readiness to the
/// components it names — a list, or a refset such as `{"$all": "store"}`.
public final class HealthEndpoint: Component {
    private let mount: EndpointMount
    private let livePath: String
    private let readyPath: String
    private let system: SystemHandle
    private let draining = Atomic<Bool>(false)
    /// The components readiness looks at (nil: every one).
    private let checks: Set<String>?

    init(_ context: ComponentContext) {
        mount = EndpointMount(context)
        livePath = context.config.string("live", default: "/healthz")
        readyPath = context.config.string("ready", default: "/readyz")
        for p in [livePath, readyPath] where !p.hasPrefix("/") {
            context.config.issue(.invalidValue, p == livePath ? "live" : "ready", "a path starts with /")
        }
        system = context.system
        checks = context.dependencies("checks", as: (any Component).self, "the components readiness looks at (default: every one)")
            .map { Set($0.map(\.target)) }
        context.claimRoute("GET", livePath)
        context.claimRoute("GET", readyPath)
    }

    /// The component type.
    public static let type = ComponentType(
        "health", summary: "GET /healthz and /readyz: liveness, and readiness (every component running)."
    ) { HealthEndpoint($0) }

    public func start() async throws {
        draining.store(false, ordering: .relaxed)
        try mount.mount([
            HTTPRoute(.get, livePath) { _, _ in .json(.ok, ["status": "alive"]) },
            HTTPRoute(.get, readyPath) { [self] _, _ in await readiness() },
        ])
    }

    public func stop() async throws { mount.unmount() }

    /// Readiness turns 503 as soon as a graceful stop begins (load balancers stop sending).
    public func drain(until deadline: ContinuousClock.Instant) async {
        draining.store(true, ordering: .relaxed)
    }

    func readiness() async -> Response {
        if draining.load(ordering: .relaxed) {
            return .json(.serviceUnavailable, ["status": "stopping", "components": []])
        }
        guard let map = system.map else { return .json(.serviceUnavailable, ["status": "no system", "components": []]) }
        let rows = (await map.status().arrayValue ?? []).filter { row in checks.map { $0.contains(row["name"]?.stringValue ?? "") } ?? true }
        // Not running, or running without what it needs (its database is away): inputs that
        // depend on it refuse, so the instance is not ready.
        let notReady: [JSONValue] = rows.compactMap { row in
            if let why = row["degraded"] { return ["name": row["name"] ?? .null, "state": "degraded", "reason": why] }
            guard row["state"]?.stringValue != "running" else { return nil }
            var o: JSONObject = ["name": row["name"] ?? .null, "state": row["state"] ?? .null]
            if let e = row["lastError"] { o["reason"] = e }
            return .object(o)
        }
        return notReady.isEmpty
            ? .json(.ok, ["status": "ready", "components": .int(rows.count)])
            : .json(.serviceUnavailable, ["status": "not ready", "components": .array(notReady)])
    }

    public func inspect() async -> JSONValue {
        ["live": .string(livePath), "ready": .string(readyPath), "draining": .bool(draining.load(ordering: .relaxed)),
         "checks": checks.map { .array($0.sorted().map(JSONValue.string)) } ?? "every component"]
    }
}
