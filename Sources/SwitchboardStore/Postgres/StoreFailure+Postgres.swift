import PostgresNIO

extension StoreFailure {
    /// Our words for an error of postgres-nio (whose own description hides everything).
    static func postgres(_ error: any Error, location: String) -> StoreFailure {
        if let f = error as? StoreFailure { return f }
        guard let e = error as? PSQLError else { return StoreFailure(.other, location: location, detail: "\(error)") }
        let underlying = e.underlying.map { "\($0)" } ?? ""
        if let info = e.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "error \(state)"
            let reason: Reason =
                switch state {
                case "28P01", "28000": .authFailed
                case "3D000": .databaseMissing
                case "57P01", "57P02", "57P03": .connectionLost
                default: .other
                }
            return StoreFailure(reason, location: location, detail: state.isEmpty ? message : "\(message) (SQLSTATE \(state))")
        }
        switch e.code {
        case .connectionError: return StoreFailure(.unreachable, location: location, detail: underlying.isEmpty ? "cannot connect" : underlying)
        case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return StoreFailure(.connectionLost, location: location, detail: underlying.isEmpty ? "\(e.code)" : underlying)
        case .sslUnsupported, .failedToAddSSLHandler: return StoreFailure(.tls, location: location, detail: "the server does not offer TLS")
        case .authMechanismRequiresPassword: return StoreFailure(.authFailed, location: location, detail: "the server asks for a password and the URL has none")
        case .saslError, .unsupportedAuthMechanism: return StoreFailure(.authFailed, location: location, detail: "\(e.code) \(underlying)")
        default: return StoreFailure(.other, location: location, detail: "\(e.code) \(underlying)")
        }
    }
}
