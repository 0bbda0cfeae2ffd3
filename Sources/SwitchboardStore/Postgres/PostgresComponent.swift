import Foundation
import Logging
import PostgresNIO
import Switchboard
import Synchronization

/// The `postgres` component: a pool of connections to one PostgreSQL database, shared by the
/// stores and buses that name it in their `database` slot.
///
/// ```json
/// "db": { "type": "postgres", "url": { "$env": "DATABASE_URL" }, "poolSize": 10,
///         "connectTimeout": "5s", "tls": "prefer" }
/// ```
///
/// Start fails with the reason (unreachable, login refused, no such database). A connection
/// lost while running is not a failure of the component: the pool reconnects with backoff and
/// the component shows `degraded` (with the last error) until a query succeeds again.
public final class PostgresComponent: Degradable {
    struct Config {
        var url: PostgresURL?
        var poolSize: Int
        var connectTimeout: Duration
        var queryTimeout: Duration
        var tls: PostgresURL.TLSMode

        init(_ c: ConfigReader) {
            if let text = c.secret("url") {
                do {
                    url = try PostgresURL(text)
                } catch {
                    c.issue(.invalidValue, "url", "not a PostgreSQL URL: \(error)")
                }
            } else if !c.has("url") {
                c.issue(.missingField, "url", "missing required field \"url\" (postgres://user:password@host:port/database, or {\"$env\": \"DATABASE_URL\"})")
            }
            poolSize = c.int("poolSize", default: 10, in: 2...1000)
            connectTimeout = c.duration("connectTimeout", default: .seconds(5), in: .milliseconds(10)...(.seconds(600)))
            queryTimeout = c.duration("queryTimeout", default: .seconds(5), in: .milliseconds(10)...(.seconds(3600)))
            let mode = c.oneOf("tls", PostgresURL.TLSMode.allCases.map(\.rawValue), default: (url?.tls ?? .prefer).rawValue)
            tls = PostgresURL.TLSMode(rawValue: mode) ?? .prefer
        }
    }

    /// Whether queries go through, and since when they do not.
    enum Health: Equatable {
        case stopped
        case healthy
        case degraded(String)
    }

    private struct State {
        var client: PostgresClient?
        var runner: Task<Void, Never>?
        var watcher: Task<Void, Never>?
        var health = Health.stopped
        var reconnects = 0
        var lastError: String?
        var queries = 0
        var failures = 0
        var inUse = 0
    }

    private let name: String
    private let config: Config
    private let runtime: ComponentRuntime
    private let state = Mutex(State())
    private let connectionIDs = Atomic<Int>(1_000_000)

    init(_ context: ComponentContext) {
        name = context.name
        config = Config(context.config)
        runtime = context.runtime
    }

    /// The component type.
    public static let type = ComponentType(
        "postgres", summary: "A pool of connections to a PostgreSQL database, for stores and buses.",
        capabilities: ["degradable"]
    ) { PostgresComponent($0) }

    /// How long a query may take (`queryTimeout`).
    public var queryTimeout: Duration { config.queryTimeout }

    /// `postgres user@host:port/database`, for logs and errors (never the password).
    public var location: String { "postgres \(config.url?.display ?? "(no url)")" }

    // MARK: Lifecycle

    public func start() async throws {
        guard let url = config.url else { throw StoreFailure(.other, location: location, detail: "no url") }
        if state.withLock({ $0.client != nil }) { return }
        var options = PostgresClient.Configuration.Options()
        options.maximumConnections = config.poolSize
        options.connectTimeout = config.connectTimeout
        var configuration = url.configuration(tls: config.tls)
        configuration.options = options
        var background = runtime.logger
        background.logLevel = max(background.logLevel, .error)
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        let runner = Task { await client.run() }
        // One connection made in front of the caller: a wrong URL fails the start, with why.
        do {
            let conn = try await connect()
            try? await conn.close()
        } catch {
            runner.cancel()
            await runner.value
            throw error
        }
        let watcher = Task { await self.watch() }
        state.withLock { s in
            s.client = client
            s.runner = runner
            s.watcher = watcher
            s.health = .healthy
        }
        runtime.logger.info("connected to \(location)")
    }

    public func stop() async throws {
        let (runner, watcher) = state.withLock { s in
            defer { s.client = nil; s.runner = nil; s.watcher = nil; s.health = .stopped }
            return (s.runner, s.watcher)
        }
        watcher?.cancel()
        await watcher?.value
        runner?.cancel()
        await runner?.value
    }

    /// Checks the database every second while it is degraded (every 5 s otherwise), so the
    /// component comes back to healthy on its own.
    private func watch() async {
        while !Task.isCancelled {
            let degraded = state.withLock { if case .degraded = $0.health { true } else { false } }
            guard (try? await Task.sleep(for: degraded ? .seconds(1) : .seconds(5))) != nil else { return }
            if degraded {
                // While the database is away, probe with a connection of its own rather than
                // through the pool: PostgresNIO's pool (1.33) can keep a request queued during an
                // outage waiting for the whole query timeout after the server is back. A
                // connection made (the server's startup answered) is noted as an answer.
                try? await (try? await connect())?.close()
            } else {
                _ = try? await query("SELECT 1")
            }
        }
    }

    // MARK: Using the database

    /// Runs `query` on a pooled connection and returns its rows, within the query timeout.
    /// Throws a `StoreFailure`; a failure marks the component degraded until a query succeeds.
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await using { client in
            var rows: [PostgresRow] = []
            for try await row in try await client.query(query) { rows.append(row) }
            return rows
        }
    }

    /// Runs `body` in a transaction on a pooled connection, within the query timeout.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await using { [runtime] client in
            try await client.withTransaction(logger: runtime.logger) { conn in try await body(conn) }
        }
    }

    /// A connection of its own, outside the pool (for LISTEN, or a writer that must not wait
    /// for a lease): the caller closes it.
    public func connect() async throws -> PostgresConnection {
        guard let url = config.url else { throw StoreFailure(.other, location: location, detail: "no url") }
        let id = connectionIDs.add(1, ordering: .relaxed).newValue
        var quiet = runtime.logger
        quiet.logLevel = max(quiet.logLevel, .error)
        let logger = quiet
        // A connection that completes after the timeout has been given up on must still be
        // closed (dropping an open one leaks its socket, and trips PostgresNIO's assertion):
        // whichever of the two sides comes second closes it.
        let handoff = Mutex<(connection: PostgresConnection?, abandoned: Bool)>((nil, false))
        do {
            let configuration = try url.connectionConfiguration(tls: config.tls)
            let conn = try await within(config.connectTimeout, "no connection") {
                let conn = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
                let kept = handoff.withLock { h -> Bool in
                    if h.abandoned { return false }
                    h.connection = conn
                    return true
                }
                if !kept { try? await conn.close() }
                return conn
            }
            noteSuccess()
            return conn
        } catch {
            let late = handoff.withLock { h -> PostgresConnection? in
                h.abandoned = true
                defer { h.connection = nil }
                return h.connection
            }
            try? await late?.close()
            throw note(error)
        }
    }

    /// Runs `body` with the pool's client within the query timeout, keeping the figures.
    private func using<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        guard let client = state.withLock({ s -> PostgresClient? in
            if s.client != nil { s.queries += 1; s.inUse += 1 }
            return s.client
        }) else { throw NotRunningDatabase(name: name) }
        defer { state.withLock { $0.inUse -= 1 } }
        do {
            let value = try await within(config.queryTimeout, "no answer from the pool") { try await body(client) }
            noteSuccess()
            return value
        } catch {
            throw note(error)
        }
    }

    /// Runs `body` for at most `limit`: its value, or a `timedOut` failure ("\(what) within 5s").
    /// At the limit `body` is cancelled and left to end on its own.
    public func within<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let result = await withDeadline(limit) { () -> Result<T, any Error> in
            do { return .success(try await body()) } catch { return .failure(error) }
        }
        guard let result else { throw StoreFailure(.timedOut, location: location, detail: "\(what) within \(limit.short)") }
        return try result.get()
    }

    /// Records a failure: connection trouble makes the component degraded. Returns the error in
    /// our words.
    @discardableResult
    public func note(_ error: any Error) -> StoreFailure {
        let failure = StoreFailure.postgres(error, location: location)
        let lostConnection = [.unreachable, .timedOut, .connectionLost, .authFailed, .databaseMissing, .tls].contains(failure.reason)
        let became = state.withLock { s -> Bool in
            s.failures += 1
            s.lastError = failure.description
            guard lostConnection, s.health == .healthy else { return false }
            s.health = .degraded(failure.description)
            return true
        }
        if became { runtime.logger.warning("degraded: \(failure)") }
        return failure
    }

    /// Records that the database answered: a degraded component is healthy again.
    public func noteSuccess() {
        let recovered = state.withLock { s -> Bool in
            guard case .degraded = s.health else { return false }
            s.health = .healthy
            s.reconnects += 1
            return true
        }
        if recovered { runtime.logger.notice("reconnected to \(location)") }
    }

    /// Logs that `table`'s schema was brought to `version`.
    func noteMigrated(table: String, to version: Int) {
        runtime.logger.info("table \(table) schema at version \(version)")
    }

    /// Whether the last use of the database failed for want of a connection.
    public var isDegraded: Bool { degradation != nil }

    /// Why the database cannot be used now (the last connection error); nil while it can.
    public var degradation: String? {
        state.withLock { if case .degraded(let why) = $0.health { why } else { nil } }
    }

    // MARK: Figures

    public func inspect() async -> JSONValue {
        let s = state.withLock { $0 }
        var o = JSONObject()
        o["url"] = .string(config.url?.display ?? "")
        o["tls"] = .string(config.tls.rawValue)
        o["up"] = .int(s.health == .healthy ? 1 : 0)
        switch s.health {
        case .stopped: o["health"] = "stopped"
        case .healthy: o["health"] = "healthy"
        case .degraded(let why):
            o["health"] = "degraded"
            o["degraded"] = .string(why)
        }
        o["poolSize"] = .int(config.poolSize)
        o["inUse"] = .int(s.inUse)
        o["queries"] = .int(s.queries)
        o["failures"] = .int(s.failures)
        o["reconnects"] = .int(s.reconnects)
        o["lastError"] = s.lastError.map(JSONValue.string) ?? .null
        return .object(o)
    }
}

/// The `postgres` component is not running.
struct NotRunningDatabase: Error, CustomStringConvertible {
    let name: String
    var description: String { "the database \"\(name)\" is not running" }
}
