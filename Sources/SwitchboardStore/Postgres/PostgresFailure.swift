import PostgresNIO

/// Why PostgreSQL could not be used, with where (never the password) and what the server or
/// the network said.
public struct PostgresFailure: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// Nothing answers at the address (refused, no route, DNS).
        case unreachable
        /// The server refused the user or the password.
        case authFailed
        /// The database named in the URL does not exist.
        case databaseMissing
        /// No answer in time.
        case timedOut
        /// The connection went away while in use.
        case connectionLost
        /// TLS was required and could not be had.
        case tls
        /// Anything else the server said (a SQL error).
        case server
        /// Anything else.
        case other
    }

    public let reason: Reason
    /// `postgres user@host:port/database`.
    public let location: String
    /// What PostgreSQL or the network said.
    public let detail: String

    public init(_ reason: Reason, location: String, detail: String) {
        self.reason = reason
        self.location = location
        self.detail = detail
    }

    public var description: String {
        let what: String
        switch reason {
        case .unreachable: what = "is unreachable"
        case .authFailed: what = "refused the login"
        case .databaseMissing: what = "has no such database"
        case .timedOut: what = "did not answer in time"
        case .connectionLost: what = "closed the connection"
        case .tls: what = "could not set up TLS"
        case .server: what = "refused the statement"
        case .other: what = "failed"
        }
        return "\(location) \(what): \(detail)"
    }

    /// Our words for an error of postgres-nio (whose own description hides everything).
    static func from(_ error: any Error, location: String) -> PostgresFailure {
        if let f = error as? PostgresFailure { return f }
        guard let e = error as? PSQLError else { return PostgresFailure(.other, location: location, detail: "\(error)") }
        let underlying = e.underlying.map { "\($0)" } ?? ""
        if let info = e.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "error \(state)"
            let reason: Reason =
                switch state {
                case "28P01", "28000": .authFailed
                case "3D000": .databaseMissing
                case "57P01", "57P02", "57P03": .connectionLost
                default: .server
                }
            return PostgresFailure(reason, location: location, detail: state.isEmpty ? message : "\(message) (SQLSTATE \(state))")
        }
        switch e.code {
        case .connectionError: return PostgresFailure(.unreachable, location: location, detail: underlying.isEmpty ? "cannot connect" : underlying)
        case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return PostgresFailure(.connectionLost, location: location, detail: underlying.isEmpty ? "\(e.code)" : underlying)
        case .sslUnsupported, .failedToAddSSLHandler: return PostgresFailure(.tls, location: location, detail: "the server does not offer TLS")
        case .authMechanismRequiresPassword: return PostgresFailure(.authFailed, location: location, detail: "the server asks for a password and the URL has none")
        case .saslError, .unsupportedAuthMechanism: return PostgresFailure(.authFailed, location: location, detail: "\(e.code) \(underlying)")
        default: return PostgresFailure(.other, location: location, detail: "\(e.code) \(underlying)")
        }
    }
}
