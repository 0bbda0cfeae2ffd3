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

    /// The newest id of each bus's log, whose row lock orders the writers.
    static let headTable = "CREATE TABLE IF NOT EXISTS switchboard_bus_head (bus text PRIMARY KEY, last_id bigint NOT NULL)"

    /// Makes the bus's head row, or brings it up to the log's newest id.
    func prepareHead(db: PostgresComponent) async throws {
        _ = try await db.query(PostgresQuery(unsafeSQL: """
            INSERT INTO switchboard_bus_head (bus, last_id) SELECT $1, coalesce(max(id), 0) FROM \(engine.quoted)
            ON CONFLICT (bus) DO UPDATE SET last_id = greatest(switchboard_bus_head.last_id, excluded.last_id)
            """, binds: { var b = PostgresBindings(); b.append(engine.table); return b }()))
    }

    /// Appends `batch` and announces it, in one statement (one round trip, its own
    /// transaction); returns the ids the messages were stored as, in order.
    ///
    /// The statement first locks the bus's head row (`FOR UPDATE`: writers of every instance
    /// queue there, and each then sees the last one's head), so rows get their `seq` in commit
    /// order: a reader that has seen `seq` n has seen every row before it. Ids grow with `seq`:
    /// the k-th message of the batch (from 1) is stored as `max(its id, previous + 1)`, which
    /// is `k + max(head, c_k)` with `c_k` the largest `id_j - j` for `j ≤ k`, worked out here.
    func append(_ batch: [Message], origin: String, on conn: PostgresConnection) async throws -> [MessageID] {
        var prefix: [Int64] = []
        prefix.reserveCapacity(batch.count)
        var best = Int64.min
        for (j, m) in batch.enumerated() {
            best = max(best, m.id.storedValue - Int64(j + 1))
            prefix.append(best)
        }
        var b = PostgresEngine.binds(batch, first: prefix)
        b.append(origin)
        b.append(engine.table)
        let sql = """
            WITH head AS (SELECT last_id FROM switchboard_bus_head WHERE bus = $10 FOR UPDATE),
            ins AS (
              INSERT INTO \(engine.quoted) (id, time, room, sender, recipient, text, data, spans, origin)
              SELECT n + greatest(head.last_id, i), \(PostgresEngine.unnestColumns), $9
              FROM head, \(PostgresEngine.unnest) WITH ORDINALITY AS u(i, t, r, s, rc, x, d, sp, n)
              ORDER BY n
              RETURNING seq, id, time, room, sender, recipient, text, data, spans),
            moved AS (UPDATE switchboard_bus_head SET last_id = (SELECT max(id) FROM ins) WHERE bus = $10),
            \(Self.announce(rows: "ins", channel: "$10"))
            SELECT array_agg(id ORDER BY id) FROM ins, (SELECT count(*) FROM announced) AS sent
            """
        // Prepared once per connection (the writer's own), so PostgreSQL parses, analyses and
        // plans this statement once, not at every batch: that was about 40 % of the writer
        // backend's CPU in the `sse-load --only cluster` bus run.
        let rows = try await PreparedAppend.$current.withValue((name: "switchboard_append_" + engine.table, sql: sql)) {
            try await conn.execute(PreparedAppend(bindings: b), logger: conn.logger)
        }
        var ids: [MessageID] = []
        for try await stored in rows {
            ids = (stored ?? []).map { MessageID(rawValue: UInt64(bitPattern: $0)) }
        }
        guard ids.count == batch.count else {
            throw StoreFailure(.other, location: engine.location, detail: "the log took \(ids.count) of \(batch.count) messages (is the head row of \(engine.table) missing?)")
        }
        return ids
    }

    /// The append as a prepared statement. PostgresNIO names and prepares a statement from
    /// its type's static `name` and `sql`, read when `execute` is called; a bus's statement
    /// names its own table, so both come from a task-local value that `append` sets around
    /// the call (the name carries the table, so a connection that served two buses would hold
    /// two statements).
    struct PreparedAppend: PostgresPreparedStatement {
        @TaskLocal static var current: (name: String, sql: String) = ("switchboard_append", "")
        static var name: String { current.name }
        static var sql: String { current.sql }
        typealias Row = [Int64]?

        let bindings: PostgresBindings
        func makeBindings() -> PostgresBindings { bindings }
        func decodeRow(_ row: PostgresRow) throws -> [Int64]? { try row.decode([Int64]?.self) }
    }

    // MARK: Announcing

    /// The CTE `announced`, which NOTIFYs the rows of the CTE `rows` (with the columns of the log)
    /// on `channel`: `r:` and a JSON array of rows, each `[seq, id, time, room, sender,
    /// recipient, text, data, spans]`, in `seq` order, as many per NOTIFY as fit in about 4 KB
    /// (PostgreSQL takes at most 8,000 bytes). A chunk that does not fit is announced as `''`,
    /// which has the readers read the log instead. So an instance learns what was committed from
    /// the NOTIFY alone, and reads the log only to catch up (a gap, a lost LISTEN connection).
    ///
    /// PostgreSQL delivers NOTIFYs in commit order, and the head row's lock makes commit order
    /// the log's order.
    static func announce(rows: String, channel: String) -> String {
        """
        announced AS (
          SELECT pg_notify(\(channel), CASE WHEN octet_length(chunk) <= 7900 THEN chunk ELSE '' END)
          FROM (SELECT 'r:[' || string_agg(row, ',' ORDER BY seq) || ']' AS chunk
                FROM (SELECT seq, row, (sum(octet_length(row) + 1) OVER (ORDER BY seq) - octet_length(row) - 1) / 4000 AS part
                      FROM (SELECT seq, json_build_array(seq, id, time, room, sender, recipient, text, data::json, spans::json)::text AS row
                            FROM \(rows)) AS encoded) AS placed
                GROUP BY part ORDER BY part) AS chunks)
        """
    }

    /// The rows of a NOTIFY payload that `announce` wrote (without its `r:`), in order; `nil`
    /// when the payload is not such rows (the reader then reads the log).
    static func rows(announced payload: Substring) -> [(seq: Int64, message: Message)]? {
        guard let parsed = try? JSONParser.parse(String(payload)).value, case .array(let items) = parsed else { return nil }
        var rows: [(seq: Int64, message: Message)] = []
        rows.reserveCapacity(items.count)
        for item in items {
            guard case .array(let f) = item, f.count == 9,
                case .int(let seq) = f[0], case .int(let id) = f[1], case .int(let time) = f[2],
                let messageID = MessageID(stored: id),
                case .string(let sender) = f[4], case .string(let text) = f[6]
            else { return nil }
            let room = f[3].stringValue, recipient = f[5].stringValue
            let data: JSONValue? = f[7] == .null ? nil : f[7]
            let spans = f[8].arrayValue?.compactMap(TextSpan.init(json:)) ?? []
            rows.append((Int64(seq), Message(from: sender, text: text, room: room, to: recipient, data: data, id: messageID,
                                             time: Date(timeIntervalSince1970: Double(time) / 1_000_000), spans: spans)))
        }
        return rows
    }

    /// The rows after `seq`, in log order, at most `limit`, read on `conn`.
    func read(after seq: Int64, limit: Int, on conn: PostgresConnection) async throws -> [(seq: Int64, message: Message)] {
        var rows: [PostgresRow] = []
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(PostgresEngine.columns), seq FROM \(engine.quoted) WHERE seq > $1 ORDER BY seq LIMIT $2",
            binds: PostgresEngine.binds(seq, Int64(limit)))
        for try await row in try await conn.query(query, logger: conn.logger) { rows.append(row) }
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
        /// Rows of the log the instance had not emitted at its last heartbeat (nil: an instance
        /// of an earlier version, which does not say).
        var lag: Int64?
        /// The Switchboard version it runs (nil: an earlier one, which does not say).
        var version: String?

        var json: JSONValue {
            ["name": .string(name), "pid": .int(pid), "started": .string(LifecycleEvent.timestamp(started)),
             "lastSeen": .string(LifecycleEvent.timestamp(lastSeen)), "subscribers": .int(subscribers), "state": .string(state),
             "ageSeconds": .double(age), "lag": lag.map { .int(Int($0)) } ?? .null, "version": version.map(JSONValue.string) ?? .null]
        }
    }

    /// The heartbeat table as first made (a later migration step adds `last_seq` and
    /// `log_head`: `PostgresEngine.sharedMigrations`).
    static let instancesTable = """
        CREATE TABLE IF NOT EXISTS switchboard_instances (
            bus text NOT NULL, name text NOT NULL, pid int NOT NULL, started timestamptz NOT NULL,
            last_seen timestamptz NOT NULL, subscribers int NOT NULL, state text NOT NULL,
            PRIMARY KEY (bus, name))
        """

    /// Writes the instance's row; `lastSeq` is the last row it emitted. Returns the log's head
    /// `seq`, read in the same statement. Written on `conn`, not the pool.
    @discardableResult
    func heartbeat(_ name: String, started: Date, subscribers: Int, state: String, lastSeq: Int64?, on conn: OwnConnection, db: PostgresComponent) async throws -> Int64 {
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        let rows = try await conn.query(PostgresQuery(unsafeSQL: """
            WITH beat AS (
              INSERT INTO switchboard_instances (bus, name, pid, started, last_seen, subscribers, state, last_seq, log_head, version)
              VALUES ($1, $2, $3, $4, now(), $5, $6, $7, (SELECT coalesce(max(seq), 0) FROM \(engine.quoted)), $8)
              ON CONFLICT (bus, name) DO UPDATE SET pid = excluded.pid, started = excluded.started, last_seen = now(),
                subscribers = excluded.subscribers, state = excluded.state, last_seq = excluded.last_seq, log_head = excluded.log_head,
                version = excluded.version
              RETURNING log_head)
            SELECT log_head FROM beat
            """, binds: {
                var b = PostgresBindings()
                b.append(engine.table); b.append(name); b.append(pid); b.append(started); b.append(subscribers); b.append(state); b.append(lastSeq)
                b.append(Switchboard.version)
                return b
            }()), on: db)
        return try rows.first?.decode(Int64.self) ?? 0
    }

    /// The running instances seen within `within` (by the database's clock), oldest first.
    /// Read on `conn` when given, else on the pool (`BusComponent.seenInstances`).
    func instances(within: Duration, on conn: OwnConnection?, db: PostgresComponent) async throws -> [Instance] {
        let seconds = within.milliseconds / 1000
        let query: PostgresQuery = """
            SELECT name, pid, started, last_seen, subscribers, state, extract(epoch FROM now() - last_seen)::float8,
                   greatest(log_head - last_seq, 0), version
            FROM switchboard_instances WHERE bus = \(engine.table) AND state <> 'stopped' AND last_seen > now() - make_interval(secs => \(seconds))
            ORDER BY started, name
            """
        let rows = if let conn { try await conn.query(query, on: db) } else { try await db.query(query) }
        return try rows.map { row in
            let (name, pid, started, seen, subs, state, age, lag, version) = try row.decode((String, Int, Date, Date, Int, String, Double, Int64?, String?).self)
            return Instance(name: name, pid: pid, started: started, lastSeen: seen, subscribers: subs, state: state, age: age, lag: lag, version: version)
        }
    }
}
