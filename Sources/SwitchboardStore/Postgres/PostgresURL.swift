import Foundation
import PostgresNIO

/// A PostgreSQL connection URL, `postgres://user:password@host:port/database?sslmode=…`, as
/// libpq reads it: a Unix socket directory may be given as `?host=/run/postgresql`.
struct PostgresURL: Sendable, Equatable {
    enum TLSMode: String, Sendable, CaseIterable {
        case off, prefer, require
    }

    var user: String
    var password: String?
    /// A host name, or nil with `socketDirectory`.
    var host: String?
    var socketDirectory: String?
    var port: Int
    var database: String
    /// From `sslmode` (`disable` → off), if the URL says.
    var tls: TLSMode?

    /// Why a URL cannot be used, in words that never include the password.
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(_ text: String) throws(Invalid) {
        guard let c = URLComponents(string: text), let scheme = c.scheme else {
            throw Invalid(description: "not a URL (expected postgres://user:password@host:port/database)")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw Invalid(description: "the scheme is \"\(scheme)\"; expected postgres:// or postgresql://")
        }
        var query: [String: String] = [:]
        for item in c.queryItems ?? [] { query[item.name] = item.value ?? "" }
        user = c.user ?? query["user"] ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        password = c.password ?? query["password"]
        let host = (c.host?.isEmpty == false ? c.host : nil) ?? query["host"]
        if let host, host.hasPrefix("/") {
            socketDirectory = host
            self.host = nil
        } else {
            self.host = host ?? "localhost"
        }
        port = c.port ?? query["port"].flatMap { Int($0) } ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(description: "port \(port) is out of range") }
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = path.isEmpty ? (query["dbname"] ?? user) : path
        switch query["sslmode"] {
        case nil: tls = nil
        case "disable": tls = .off
        case "allow", "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        case let other?: throw Invalid(description: "sslmode \"\(other)\" is not one of disable, allow, prefer, require, verify-ca, verify-full")
        }
    }

    /// `user@host:port/database`: where, without the password, for logs and errors.
    var display: String {
        "\(user)@\(socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } ?? "\(host ?? "localhost"):\(port)")/\(database)"
    }

    /// The client configuration for this URL with `tls`.
    func configuration(tls mode: TLSMode) -> PostgresClient.Configuration {
        if let dir = socketDirectory {
            return PostgresClient.Configuration(unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS =
            switch mode {
            case .off: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        return PostgresClient.Configuration(host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: tls)
    }

    /// The single-connection configuration for this URL with `tls` (LISTEN and the bus's writer
    /// hold one connection each, outside the pool).
    func connectionConfiguration(tls mode: TLSMode) throws -> PostgresConnection.Configuration {
        if let dir = socketDirectory {
            return PostgresConnection.Configuration(unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        let tls: PostgresConnection.Configuration.TLS =
            switch mode {
            case .off: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        return PostgresConnection.Configuration(host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: tls)
    }
}
