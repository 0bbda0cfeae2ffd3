import PostgresNIO
import Synchronization

/// A connection a component keeps for itself, outside the pool: made on first use, dropped
/// (and closed) after a failure, made again on the next use, closed at stop.
///
/// Why not the pool: after a database restart, PostgresNIO's pool (1.33) can leave a query
/// that was queued while the database was away waiting until its timeout, while later queries
/// are served; whatever waited behind it (a catch-up read, and every delivery after it; a
/// heartbeat, and the instance dropped out of `cluster` for that long) waited too. A
/// connection of one's own fails at once while the server is away and is made anew when it
/// is back. The bus holds three: the writer, the catch-up reader, and one for its upkeep
/// (`beats`: heartbeat and presence).
final class OwnConnection: Sendable {
    private let held = Mutex<PostgresConnection?>(nil)

    /// Whether a connection is held now (one that failed is not).
    var isHeld: Bool { held.withLock { $0 != nil } }

    /// The connection, made on `db` if none is held or the held one has closed. Two callers at
    /// once may both connect; the second keeps the first's and closes its own.
    func get(_ db: PostgresComponent) async throws -> PostgresConnection {
        if let conn = held.withLock({ $0 }), !conn.isClosed { return conn }
        let made = try await db.connect()
        let (use, extra) = held.withLock { h -> (PostgresConnection, PostgresConnection?) in
            if let other = h, !other.isClosed { return (other, made) }
            h = made
            return (made, nil)
        }
        try? await extra?.close()
        return use
    }

    /// Forgets the connection and closes it (after a failure, and at stop).
    func drop() async {
        let conn = held.withLock { h in defer { h = nil }; return h }
        try? await conn?.close()
    }

    /// Closes `failed`, and forgets it if it is still the one held (another caller may have
    /// made a new one meanwhile, which stays).
    func drop(_ failed: PostgresConnection) async {
        held.withLock { h in if h === failed { h = nil } }
        try? await failed.close()
    }

    /// Runs `query` on the connection within `db`'s query timeout and returns its rows. A
    /// failure drops the connection and is thrown in `db`'s words (`StoreFailure`).
    func query(_ query: PostgresQuery, on db: PostgresComponent) async throws -> [PostgresRow] {
        let conn = try await get(db) // `connect` throws its failure in `db`'s words, noted
        do {
            return try await db.within(db.queryTimeout, "no answer on a connection of its own") {
                var rows: [PostgresRow] = []
                for try await row in try await conn.query(query, logger: conn.logger) { rows.append(row) }
                return rows
            }
        } catch {
            await drop(conn)
            throw db.note(error)
        }
    }
}
