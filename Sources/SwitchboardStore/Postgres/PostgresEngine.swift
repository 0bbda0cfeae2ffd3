import Foundation
import PostgresNIO
import Switchboard
import SwitchboardChannels

/// The PostgreSQL engine: one table of messages in the database of a `postgres` component.
/// A store keeps its messages there; a bus keeps its shared log there (the `seq` column gives
/// the log's order).
///
/// The schema is versioned per table in `switchboard_schema` and brought forward at open,
/// under an advisory lock so that instances starting together do not race.
public final class PostgresEngine: StoreEngine {
    /// The table, unquoted.
    public let table: String
    private let database: Dependency<PostgresComponent>

    /// The schema of one table, as the statements that bring version `i` to `i + 1`
    /// (`{t}` is the quoted table name, `{n}` the bare one). Append only.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE IF NOT EXISTS {t} (
                seq bigserial UNIQUE,      -- the order of the shared log (a bus reads seq > last)
                id bigint PRIMARY KEY,     -- the message id (microseconds, never reused)
                time bigint NOT NULL,      -- microseconds since 1970
                room text,                 -- NULL: the default room
                sender text NOT NULL,
                recipient text,
                text text NOT NULL,
                data text,                 -- JSON
                spans text,                -- JSON
                origin text                -- the instance that published it
            )
            """,
            "CREATE INDEX IF NOT EXISTS \"{n}_room\" ON {t} (room, id)",
            "CREATE INDEX IF NOT EXISTS \"{n}_time\" ON {t} (time)",
        ],
    ]

    /// The engine for `table` in the database of `database`.
    init(table: String, database: Dependency<PostgresComponent>) {
        self.table = table
        self.database = database
    }

    /// The engine for `table` in `database`, outside a system map (tools and tests).
    package convenience init(table: String, database: PostgresComponent) {
        self.init(table: table, database: .constant(database, named: "database"))
    }

    /// The table name, quoted for SQL.
    var quoted: String { Self.quote(table) }

    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public var location: String { "\((try? database.get().location) ?? "postgres") table \(table)" }

    func db() throws -> PostgresComponent { try database.get() }

    // MARK: Opening

    public func open() async throws {
        let db = try db()
        let table = table, quoted = quoted, location = location
        try await createSharedTables(db)
        // One table's migration at a time (instances starting together), other tables' freely.
        let version = try await db.transaction { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(hashtext('switchboard_schema:' || \(table)))", logger: conn.logger)
            var version = 0
            for try await v in try await conn.query("SELECT version FROM switchboard_schema WHERE name = \(table)", logger: conn.logger).decode(Int.self) {
                version = v
            }
            guard version <= Self.migrations.count else {
                throw StoreFailure(.newerSchema, location: location, detail: "schema version \(version); this build knows up to \(Self.migrations.count)")
            }
            guard version < Self.migrations.count else { return version }
            for step in version..<Self.migrations.count {
                for sql in Self.migrations[step] {
                    let text = sql.replacingOccurrences(of: "{t}", with: quoted).replacingOccurrences(of: "{n}", with: table.replacingOccurrences(of: "\"", with: "\"\""))
                    try await conn.query(PostgresQuery(unsafeSQL: text), logger: conn.logger)
                }
            }
            try await conn.query(
                "INSERT INTO switchboard_schema (name, version) VALUES (\(table), \(Self.migrations.count)) ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                logger: conn.logger)
            return version
        }
        if version < Self.migrations.count {
            db.noteMigrated(table: table, to: Self.migrations.count)
        }
    }

    /// The tables every store and bus of the database shares, as numbered steps recorded under
    /// the name `(shared)` in `switchboard_schema` (a database made before the record has the
    /// tables of step 1 and no row: its steps run again, as no-ops, and the later ones add what
    /// it lacks). Append only.
    static let sharedMigrations: [[String]] = [
        [
            "CREATE TABLE IF NOT EXISTS switchboard_meta (scope text NOT NULL, key text NOT NULL, value bigint NOT NULL, PRIMARY KEY (scope, key))",
            BusLog.instancesTable,
            BusLog.headTable,
            SharedPresence.table,
        ],
        [
            // An instance's place in the log, for `cluster`'s lag.
            "ALTER TABLE switchboard_instances ADD COLUMN IF NOT EXISTS last_seq bigint",
            "ALTER TABLE switchboard_instances ADD COLUMN IF NOT EXISTS log_head bigint",
            "ALTER TABLE switchboard_instances ADD COLUMN IF NOT EXISTS version text",
            // One console for the cluster: commands out, answers back (BusComponent+Console).
            """
            CREATE TABLE IF NOT EXISTS switchboard_console (
                id bigserial PRIMARY KEY, bus text NOT NULL, origin text NOT NULL, targets text[] NOT NULL,
                line text NOT NULL, limit_ms int NOT NULL, at timestamptz NOT NULL DEFAULT now())
            """,
            """
            CREATE TABLE IF NOT EXISTS switchboard_console_replies (
                command bigint NOT NULL REFERENCES switchboard_console (id) ON DELETE CASCADE, instance text NOT NULL,
                n int NOT NULL, final bool NOT NULL, ok bool NOT NULL, text text NOT NULL, PRIMARY KEY (command, instance, n))
            """,
        ],
    ]

    /// The name of the shared tables' row in `switchboard_schema`.
    static let sharedName = "(shared)"

    /// Brings the shared tables to this build's version, under one lock (two CREATE TABLE IF NOT
    /// EXISTS at once can fail on PostgreSQL's catalog); refuses a database a newer build made.
    private func createSharedTables(_ db: PostgresComponent) async throws {
        let known = Self.sharedMigrations.count
        // -1: a new database (no schema table); 0: tables an earlier build made without a record.
        var current = -1
        if try await db.query("SELECT to_regclass('switchboard_schema') IS NOT NULL").first?.decode(Bool.self) == true {
            current = try await db.query("SELECT version FROM switchboard_schema WHERE name = \(Self.sharedName)").first?.decode(Int.self) ?? 0
        }
        if current == known { return }
        let location = (try? database.get().location) ?? "postgres"
        let reached = try await db.transaction { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(hashtext('switchboard_schema'))", logger: conn.logger)
            try await conn.query("CREATE TABLE IF NOT EXISTS switchboard_schema (name text PRIMARY KEY, version int NOT NULL)", logger: conn.logger)
            var version = 0
            for try await v in try await conn.query("SELECT version FROM switchboard_schema WHERE name = \(Self.sharedName)", logger: conn.logger).decode(Int.self) {
                version = v
            }
            guard version <= known else {
                throw StoreFailure(.newerSchema, location: location, detail: "the shared tables are at schema version \(version); this build knows up to \(known)")
            }
            guard version < known else { return version }
            for step in version..<known {
                for sql in Self.sharedMigrations[step] { try await conn.query(PostgresQuery(unsafeSQL: sql), logger: conn.logger) }
            }
            try await conn.query(
                "INSERT INTO switchboard_schema (name, version) VALUES (\(Self.sharedName), \(known)) ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                logger: conn.logger)
            return known
        }
        if current >= 0, current < reached { db.noteMigrated(table: "switchboard_* (the shared tables)", to: reached) }
    }

    public func close() async {}

    // MARK: Writing

    public func append(_ batch: [Message]) async throws {
        guard !batch.isEmpty else { return }
        _ = try await db().query(insert(batch, ids: batch.map(\.id), origin: nil, conflict: "ON CONFLICT (id) DO NOTHING"))
    }

    /// One INSERT of `batch` with `ids`, as arrays (one bind per column, any batch size).
    func insert(_ batch: [Message], ids: [MessageID], origin: String?, conflict: String = "") -> PostgresQuery {
        var b = Self.binds(batch, first: ids.map(\.storedValue))
        b.append(origin)
        return PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(quoted) (id, time, room, sender, recipient, text, data, spans, origin)
                SELECT i, \(Self.unnestColumns), $9 FROM \(Self.unnest) AS u(i, t, r, s, rc, x, d, sp)
                ORDER BY i \(conflict)
                """, binds: b)
    }

    /// `first` and the columns of `batch` from time on, as arrays: binds $1 to $8 of `unnest`.
    static func binds(_ batch: [Message], first: [Int64]) -> PostgresBindings {
        var b = PostgresBindings(capacity: 10)
        b.append(first)
        b.append(batch.map { Int64((($0.time.timeIntervalSince1970) * 1_000_000).rounded()) })
        b.append(batch.map { $0.room ?? "" })
        b.append(batch.map(\.from))
        b.append(batch.map { $0.to ?? "" })
        b.append(batch.map(\.text))
        b.append(batch.map { $0.data?.jsonText ?? "" })
        b.append(batch.map { $0.spans.isEmpty ? "" : JSONValue.array($0.spans.map(\.json)).jsonText })
        return b
    }

    /// The rows of `binds`, named u(i, t, r, s, rc, x, d, sp).
    static let unnest = "unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"
    /// The columns after id from `unnest`'s row; empty strings stand for NULL (no room,
    /// recipient, data or spans is ever "").
    static let unnestColumns = "t, NULLIF(r, ''), s, NULLIF(rc, ''), x, NULLIF(d, ''), NULLIF(sp, '')"

    // MARK: Reading

    static let columns = "id, time, room, sender, recipient, text, data, spans"

    public func newestID() async throws -> MessageID? {
        try await db().query(PostgresQuery(unsafeSQL: "SELECT max(id) FROM \(quoted)")).first
            .flatMap { try $0.decode(Int64?.self) }.map { MessageID(rawValue: UInt64(bitPattern: $0)) }
    }

    /// The WHERE clauses and binds of `q`'s room and viewer.
    private static func filter(_ q: HistoryQuery) -> (clauses: [String], binds: PostgresBindings) {
        var clauses: [String] = []
        var b = PostgresBindings()
        if let room = q.room {
            b.append(room)
            clauses.append(room == q.defaultRoom ? "(room = $\(b.count) OR room IS NULL)" : "room = $\(b.count)")
        }
        if let viewer = q.viewer {
            b.append(viewer)
            clauses.append("(recipient IS NULL OR recipient = $\(b.count) OR sender = $\(b.count))")
        }
        return (clauses, b)
    }

    public func id(back count: Int, _ q: HistoryQuery) async throws -> MessageID? {
        var (clauses, b) = Self.filter(q)
        b.append(max(0, count - 1))
        let sql = "SELECT id FROM \(quoted)" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY id DESC LIMIT 1 OFFSET $\(b.count)"
        return try await db().query(PostgresQuery(unsafeSQL: sql, binds: b)).first
            .map { try $0.decode(Int64.self) }.flatMap { MessageID(stored: $0) }
    }

    public func page(_ q: HistoryQuery) async throws -> HistoryPage {
        var (clauses, b) = Self.filter(q)
        let ascending: Bool
        switch q.cursor {
        case .latest: ascending = false
        case .before(let id): ascending = false; b.append(id.storedValue); clauses.append("id < $\(b.count)")
        case .after(let id): ascending = true; b.append(id.storedValue); clauses.append("id > $\(b.count)")
        }
        let limit = max(0, q.limit)
        b.append(limit + 1)
        let sql = "SELECT \(Self.columns) FROM \(quoted)"
            + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
            + " ORDER BY id \(ascending ? "ASC" : "DESC") LIMIT $\(b.count)"
        var messages = try await db().query(PostgresQuery(unsafeSQL: sql, binds: b)).map(Self.message)
        let more = messages.count > limit
        if more { messages.removeLast() }
        return HistoryPage(messages: messages, next: more ? messages.last?.id : nil)
    }

    /// The row's message (the first eight columns are `columns`).
    static func message(_ row: PostgresRow) throws -> Message {
        let (id, time, room, from, to, text, data, spans) = try row.decode((Int64, Int64, String?, String, String?, String, String?, String?).self)
        var spanList: [TextSpan] = []
        if let spans, case .array(let items)? = try? JSONParser.parse(spans).value {
            spanList = items.compactMap(TextSpan.init(json:))
        }
        return Message(from: from, text: text, room: room, to: to, data: data.flatMap { try? JSONParser.parse($0).value },
                       id: MessageID(rawValue: UInt64(bitPattern: id)), time: Date(timeIntervalSince1970: Double(time) / 1_000_000), spans: spanList)
    }

    // MARK: Retention

    public func prune(_ retention: Retention, now: Date, limit: Int) async throws -> Int {
        let db = try db()
        var doomed: [Int64] = []
        if let age = retention.maxAge {
            let cutoff = Int64(((now.timeIntervalSince1970 - age.milliseconds / 1000) * 1_000_000).rounded())
            doomed = try await db.query(PostgresQuery(
                unsafeSQL: "DELETE FROM \(quoted) WHERE id IN (SELECT id FROM \(quoted) WHERE time < $1 ORDER BY id LIMIT $2) RETURNING id",
                binds: Self.binds(cutoff, Int64(limit)))).map { try $0.decode(Int64.self) }
        }
        if let max = retention.maxMessages, doomed.count < limit,
            let keepFrom = try await db.query(PostgresQuery(
                unsafeSQL: "SELECT id FROM \(quoted) ORDER BY id DESC LIMIT 1 OFFSET $1", binds: Self.binds(Int64(max - 1)))).first.map({ try $0.decode(Int64.self) })
        {
            doomed += try await db.query(PostgresQuery(
                unsafeSQL: "DELETE FROM \(quoted) WHERE id IN (SELECT id FROM \(quoted) WHERE id < $1 ORDER BY id LIMIT $2) RETURNING id",
                binds: Self.binds(keepFrom, Int64(limit - doomed.count)))).map { try $0.decode(Int64.self) }
        }
        if let through = doomed.max() {
            _ = try await db.query(
                "INSERT INTO switchboard_meta (scope, key, value) VALUES (\(table), 'pruned_through', \(through)) ON CONFLICT (scope, key) DO UPDATE SET value = greatest(switchboard_meta.value, excluded.value)")
        }
        return doomed.count
    }

    public func prunedThrough() async throws -> MessageID? {
        try await db().query("SELECT value FROM switchboard_meta WHERE scope = \(table) AND key = 'pruned_through'").first
            .map { MessageID(rawValue: UInt64(bitPattern: try $0.decode(Int64.self))) }
    }

    public func figures() async throws -> StoreFigures {
        let db = try db()
        let row = try await db.query(PostgresQuery(unsafeSQL: """
            SELECT count(*), min(id), max(id), pg_total_relation_size('\(quoted.replacingOccurrences(of: "'", with: "''"))'),
                   (SELECT time FROM \(quoted) ORDER BY id ASC LIMIT 1), (SELECT time FROM \(quoted) ORDER BY id DESC LIMIT 1)
            FROM \(quoted)
            """)).first
        guard let (rows, lo, hi, bytes, loTime, hiTime) = try row?.decode((Int64, Int64?, Int64?, Int64, Int64?, Int64?).self) else {
            return StoreFigures(rows: 0, oldest: nil, newest: nil, bytesOnDisk: 0)
        }
        func end(_ id: Int64?, _ time: Int64?) -> (id: MessageID, time: Date)? {
            guard let id, let time else { return nil }
            return (MessageID(rawValue: UInt64(bitPattern: id)), Date(timeIntervalSince1970: Double(time) / 1_000_000))
        }
        return StoreFigures(rows: Int(rows), oldest: end(lo, loTime), newest: end(hi, hiTime), bytesOnDisk: Int(bytes))
    }

    static func binds(_ values: Int64...) -> PostgresBindings {
        var b = PostgresBindings(capacity: values.count)
        for v in values { b.append(v) }
        return b
    }
}
