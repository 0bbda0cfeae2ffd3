import Foundation
import PostgresNIO
import Switchboard
import SwitchboardChannels

/// The SQL of a bus: the shared log (a `PostgresEngine` table whose `seq` is the order), the
/// ordered append, the catch-up read and the instances' heartbeats.
struct BusLog: Sendable {
    let engine: PostgresEngine
    /// The NOTIFY channel: the table's name.
    var channel: String { engine.table }

    /// Appends `batch` in one transaction and announces it; returns the ids the messages were
    /// stored as, in order.
    ///
    /// Writers of every instance take the same advisory lock for the transaction, so rows get
    /// their `seq` in commit order (a reader that has seen `seq` n has seen every row before
    /// it) and ids can be made to grow with `seq`: a message whose id is not above the newest
    /// one in the log gets the next free id.
    func append(_ batch: [Message], origin: String, on conn: PostgresConnection) async throws -> [MessageID] {
        let table = engine.table, quoted = engine.quoted
        let insert = { (ids: [MessageID]) in engine.insert(batch, ids: ids, origin: origin) }
        return try await conn.withTransaction(logger: conn.logger) { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(hashtext(\(table)))", logger: conn.logger)
            // A statement of its own, after the lock: its snapshot sees the last writer's rows.
            var newest: UInt64 = 0
            for try await v in try await conn.query(PostgresQuery(unsafeSQL: "SELECT coalesce(max(id), 0) FROM \(quoted)"), logger: conn.logger).decode(Int64.self) {
                newest = UInt64(bitPattern: v)
            }
            var ids: [MessageID] = []
            ids.reserveCapacity(batch.count)
            for m in batch {
                newest = max(m.id.rawValue, newest + 1)
                ids.append(MessageID(rawValue: newest))
            }
            try await conn.query(insert(ids), logger: conn.logger)
            try await conn.query("SELECT pg_notify(\(table), '')", logger: conn.logger)
            return ids
        }
    }

    /// The rows after `seq`, in log order, at most `limit`.
    func read(after seq: Int64, limit: Int, db: PostgresComponent) async throws -> [(seq: Int64, message: Message)] {
        let rows = try await db.query(PostgresQuery(
            unsafeSQL: "SELECT \(PostgresEngine.columns), seq FROM \(engine.quoted) WHERE seq > $1 ORDER BY seq LIMIT $2",
            binds: PostgresEngine.binds(seq, Int64(limit))))
        return try rows.map { row in
            let message = try PostgresEngine.message(row)
            let columns = row.makeRandomAccess()
            let seq = try columns[8].decode(Int64.self)
            return (seq, message)
        }
    }

    /// The newest `seq` in the log (0 when empty).
    func head(db: PostgresComponent) async throws -> Int64 {
        try await db.query(PostgresQuery(unsafeSQL: "SELECT coalesce(max(seq), 0) FROM \(engine.quoted)")).first?.decode(Int64.self) ?? 0
    }

    // MARK: Instances

    /// One instance's heartbeat row.
    struct Instance: Sendable {
        var name: String
        var pid: Int
        var started: Date
        var lastSeen: Date
        var subscribers: Int
        var state: String
        /// Seconds since `lastSeen`, by the database's clock.
        var age: Double

        var json: JSONValue {
            ["name": .string(name), "pid": .int(pid), "started": .string(LifecycleEvent.timestamp(started)),
             "lastSeen": .string(LifecycleEvent.timestamp(lastSeen)), "subscribers": .int(subscribers), "state": .string(state),
             "ageSeconds": .double(age)]
        }
    }

    /// The heartbeat table (made when an engine opens).
    static let instancesTable = """
        CREATE TABLE IF NOT EXISTS switchboard_instances (
            bus text NOT NULL, name text NOT NULL, pid int NOT NULL, started timestamptz NOT NULL,
            last_seen timestamptz NOT NULL, subscribers int NOT NULL, state text NOT NULL,
            PRIMARY KEY (bus, name))
        """

    func heartbeat(_ name: String, started: Date, subscribers: Int, state: String, db: PostgresComponent) async throws {
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        _ = try await db.query("""
            INSERT INTO switchboard_instances (bus, name, pid, started, last_seen, subscribers, state)
            VALUES (\(engine.table), \(name), \(pid), \(started), now(), \(subscribers), \(state))
            ON CONFLICT (bus, name) DO UPDATE SET pid = excluded.pid, started = excluded.started, last_seen = now(),
              subscribers = excluded.subscribers, state = excluded.state
            """)
    }

    /// The running instances seen within `within` (by the database's clock), oldest first.
    func instances(within: Duration, db: PostgresComponent) async throws -> [Instance] {
        let seconds = within.milliseconds / 1000
        let rows = try await db.query("""
            SELECT name, pid, started, last_seen, subscribers, state, extract(epoch FROM now() - last_seen)::float8
            FROM switchboard_instances WHERE bus = \(engine.table) AND state <> 'stopped' AND last_seen > now() - make_interval(secs => \(seconds))
            ORDER BY started, name
            """)
        return try rows.map { row in
            let (name, pid, started, seen, subs, state, age) = try row.decode((String, Int, Date, Date, Int, String, Double).self)
            return Instance(name: name, pid: pid, started: started, lastSeen: seen, subscribers: subs, state: state, age: age)
        }
    }
}
