/// A component that can be running and still unable to serve: its database went away, say.
///
/// While `degradation` is not nil the map's `status` shows the component as `degraded` with
/// the reason, and a `health` endpoint's `/readyz` answers 503 naming it (inputs that need it
/// refuse, so a load balancer should send elsewhere); `/healthz` stays 200 (the process is
/// alive and may recover by itself).
///
/// - Important: `degradation` is read on every readiness probe and `status`: it must be a
///   cheap read of state the component keeps (no I/O).
public protocol Degradable: Component {
    /// Why the component cannot serve now; nil while it can.
    var degradation: String? { get }
}
