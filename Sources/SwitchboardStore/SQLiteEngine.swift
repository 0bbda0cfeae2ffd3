import Foundation
import Logging
import SQLiteNIO
import Switchboard
import SwitchboardChannels
import Synchronization

/// The embedded engine: one SQLite file in WAL mode, `synchronous=NORMAL` (a commit survives
/// the process being killed; the last ones may not survive a power cut), through vapor's
/// sqlite-nio, which bundles SQLite itself so nothing is installed.
///
/// Every call is one SQL statement (SQLite makes each atomic), so reads and pruning never
/// land inside a batch's transaction; a batch over `rowsPerStatement` rows is split and
/// wrapped in one transaction.
public final class SQLiteEngine: StoreEngine {
    /// The file.
    public let path: String
    /// How long a write waits for another process's lock before failing.
    public let lockTimeout: Duration
    /// Whether `open()` checks the file (`PRAGMA quick_check`).
    public let checksIntegrity: Bool
    private let logger: Logger
    private let connection = Mutex<SQLiteConnection?>(nil)

    /// At most 8 values per row × this many rows are bound to one statement.
    static let rowsPerStatement = 500

    /// The schema, as the statements that bring version `i` to `i + 1`. Append only: a
    /// released version's statements never change, so every database can be brought forward.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE messages (
                id INTEGER PRIMARY KEY,   -- the message id (microseconds, never reused)
                time INTEGER NOT NULL,    -- when it entered the system, microseconds since 1970
                room TEXT,                -- NULL: the default room
                sender TEXT NOT NULL,
                recipient TEXT,
                text TEXT NOT NULL,
                data TEXT,                -- JSON
                spans TEXT                -- JSON
            )
            """,
            "CREATE INDEX messages_room ON messages (room, id)",
            "CREATE INDEX messages_time ON messages (time)",
            "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ],
    ]

    /// An engine for the file at `path` (made absolute by the caller).
    public init(path: String, lockTimeout: Duration = .seconds(5), checksIntegrity: Bool = true, logger: Logger) {
        self.path = path
        self.lockTimeout = lockTimeout
        self.checksIntegrity = checksIntegrity
        self.logger = logger
    }

    public var location: String { "sqlite \(path)" }

    // MARK: Opening

    public func open() async throws {
        guard connection.withLock({ $0 }) == nil else { return }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreFailure(.unwritable, location: location, detail: "cannot create the directory \(directory) (\(error.localizedDescription))")
        }
        let conn: SQLiteConnection
        do {
            conn = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw failure(error)
        }
        do {
            // Replaces sqlite-nio's busy handler, which would wait forever on a lock.
            _ = try await rows(conn, "PRAGMA busy_timeout = \(Int(lockTimeout.milliseconds))")
            if checksIntegrity { try await checkIntegrity(conn) }
            try await migrate(conn)
            let mode = try await rows(conn, "PRAGMA journal_mode = WAL").first?.column("journal_mode")?.string
            if mode != "wal" { logger.warning("SQLite did not switch to WAL mode (it is in \(mode ?? "an unknown") mode)") }
            _ = try await rows(conn, "PRAGMA synchronous = NORMAL")
            // A real write: a read-only file or another process's lock shows here, at start.
            _ = try await rows(conn, "INSERT INTO store_meta (key, value) VALUES ('opened', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                               [.integer(SQLiteInt64(Date().timeIntervalSince1970))])
        } catch {
            try? await conn.close()
            throw failure(error)
        }
        connection.withLock { $0 = conn }
    }

    /// Refuses a damaged file at start (`PRAGMA quick_check`, which reads every page: 0.6 s per
    /// GB from the page cache — a restart in a reload finds the file there — and 15 s per GB
    /// from a cold disk on the 2-core test machine), so that a store never runs on a file that
    /// would take new messages and then fail history pages and resumes.
    private func checkIntegrity(_ conn: SQLiteConnection) async throws {
        let found: [String]
        do {
            found = try await rows(conn, "PRAGMA quick_check(5)").compactMap { $0.column("quick_check")?.string }
        } catch {
            let f = failure(error)
            guard f.reason == .corrupt else { throw f }
            throw StoreFailure(.corrupt, location: location, detail: "\(f.detail). \(StoreFailure.corruptAdvice(location))")
        }
        guard found != ["ok"] else { return }
        throw StoreFailure(.corrupt, location: location,
                           detail: "PRAGMA quick_check found damage (\(found.joined(separator: "; "))). \(StoreFailure.corruptAdvice(location))")
    }

    /// Brings the schema to the newest version, one transaction per step.
    private func migrate(_ conn: SQLiteConnection) async throws {
        let version = try await rows(conn, "PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        guard version <= Self.migrations.count else {
            throw StoreFailure(.newerSchema, location: location, detail: "schema version \(version); this build knows up to \(Self.migrations.count)")
        }
        for step in Int(version)..<Self.migrations.count {
            _ = try await rows(conn, "BEGIN IMMEDIATE")
            do {
                for sql in Self.migrations[step] { _ = try await rows(conn, sql) }
                _ = try await rows(conn, "PRAGMA user_version = \(step + 1)")
                _ = try await rows(conn, "COMMIT")
            } catch {
                _ = try? await rows(conn, "ROLLBACK")
                throw error
            }
            logger.info("store schema at version \(step + 1)", metadata: ["path": "\(path)"])
        }
    }

    public func close() async {
        guard let conn = connection.take() else { return }
        try? await conn.close()
    }

    // MARK: Writing

    public func append(_ batch: [Message]) async throws {
        guard !batch.isEmpty else { return }
        let conn = try current()
        do {
            if batch.count <= Self.rowsPerStatement {
                _ = try await rows(conn, Self.insertSQL(rows: batch.count), Self.binds(batch))
                return
            }
            _ = try await rows(conn, "BEGIN IMMEDIATE")
            do {
                var start = 0
                while start < batch.count {
                    let chunk = batch[start..<min(batch.count, start + Self.rowsPerStatement)]
                    _ = try await rows(conn, Self.insertSQL(rows: chunk.count), Self.binds(chunk))
                    start += chunk.count
                }
                _ = try await rows(conn, "COMMIT")
            } catch {
                _ = try? await rows(conn, "ROLLBACK")
                throw error
            }
        } catch {
            throw failure(error)
        }
    }

    private static let insertSQLs: [String] = (0...rowsPerStatement).map { n in
        "INSERT OR IGNORE INTO messages (id, time, room, sender, recipient, text, data, spans) VALUES "
            + Array(repeating: "(?,?,?,?,?,?,?,?)", count: n).joined(separator: ",")
    }

    private static func insertSQL(rows: Int) -> String { insertSQLs[rows] }

    private static func binds(_ batch: some Collection<Message>) -> [SQLiteData] {
        var binds: [SQLiteData] = []
        binds.reserveCapacity(batch.count * 8)
        for m in batch {
            binds.append(.integer(SQLiteInt64(m.id.storedValue)))
            binds.append(.integer(SQLiteInt64((m.time.timeIntervalSince1970 * 1_000_000).rounded())))
            binds.append(m.room.map { .text($0) } ?? .null)
            binds.append(.text(m.from))
            binds.append(m.to.map { .text($0) } ?? .null)
            binds.append(.text(m.text))
            binds.append(m.data.map { .text($0.jsonText) } ?? .null)
            binds.append(m.spans.isEmpty ? .null : .text(JSONValue.array(m.spans.map(\.json)).jsonText))
        }
        return binds
    }

    // MARK: Reading

    public func newestID() async throws -> MessageID? {
        let r = try await query("SELECT max(id) AS id FROM messages")
        return r.first?.column("id")?.integer.flatMap { MessageID(stored: $0) }
    }

    /// The WHERE clauses and binds of `q`'s room and viewer.
    private static func filter(_ q: HistoryQuery) -> (clauses: [String], binds: [SQLiteData]) {
        var clauses: [String] = []
        var binds: [SQLiteData] = []
        if let room = q.room {
            clauses.append(room == q.defaultRoom ? "(room = ? OR room IS NULL)" : "room = ?")
            binds.append(.text(room))
        }
        if let viewer = q.viewer {
            clauses.append("(recipient IS NULL OR recipient = ? OR sender = ?)")
            binds += [.text(viewer), .text(viewer)]
        }
        return (clauses, binds)
    }

    public func id(back count: Int, _ q: HistoryQuery) async throws -> MessageID? {
        var (clauses, binds) = Self.filter(q)
        binds.append(.integer(max(0, count - 1)))
        let sql = "SELECT id FROM messages" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY id DESC LIMIT 1 OFFSET ?"
        return try await query(sql, binds).first?.column("id")?.integer.flatMap { MessageID(stored: $0) }
    }

    public func page(_ q: HistoryQuery) async throws -> HistoryPage {
        var (clauses, binds) = Self.filter(q)
        let ascending: Bool
        switch q.cursor {
        case .latest: ascending = false
        case .before(let id): ascending = false; clauses.append("id < ?"); binds.append(.integer(SQLiteInt64(id.storedValue)))
        case .after(let id): ascending = true; clauses.append("id > ?"); binds.append(.integer(SQLiteInt64(id.storedValue)))
        }
        let limit = max(0, q.limit)
        binds.append(.integer(SQLiteInt64(limit + 1)))
        let sql = "SELECT id, time, room, sender, recipient, text, data, spans FROM messages"
            + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
            + " ORDER BY id \(ascending ? "ASC" : "DESC") LIMIT ?"
        var messages = try await query(sql, binds).compactMap(Self.message)
        let more = messages.count > limit
        if more { messages.removeLast() }
        return HistoryPage(messages: messages, next: more ? messages.last?.id : nil)
    }

    static func message(_ row: SQLiteRow) -> Message? {
        guard let id = row.column("id")?.integer.flatMap({ MessageID(stored: $0) }), let time = row.column("time")?.integer,
            let from = row.column("sender")?.string, let text = row.column("text")?.string
        else { return nil }
        let data = row.column("data")?.string.flatMap { try? JSONParser.parse($0).value }
        var spans: [TextSpan] = []
        if let s = row.column("spans")?.string, case .array(let items)? = try? JSONParser.parse(s).value {
            spans = items.compactMap(TextSpan.init(json:))
        }
        return Message(from: from, text: text, room: row.column("room")?.string, to: row.column("recipient")?.string, data: data,
                       id: id, time: Date(timeIntervalSince1970: Double(time) / 1_000_000), spans: spans)
    }

    // MARK: Retention

    public func prune(_ retention: Retention, now: Date, limit: Int) async throws -> Int {
        var doomed: [SQLiteInt64] = []
        if let age = retention.maxAge {
            let cutoff = SQLiteInt64(((now.timeIntervalSince1970 - age.milliseconds / 1000) * 1_000_000).rounded())
            doomed = try await query(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE time < ? ORDER BY id LIMIT ?) RETURNING id",
                [.integer(cutoff), .integer(SQLiteInt64(limit))]).compactMap { $0.column("id")?.integer }
        }
        if let max = retention.maxMessages, doomed.count < limit,
            let keepFrom = try await query("SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?", [.integer(SQLiteInt64(max - 1))]).first?.column("id")?.integer
        {
            doomed += try await query(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE id < ? ORDER BY id LIMIT ?) RETURNING id",
                [.integer(keepFrom), .integer(SQLiteInt64(limit - doomed.count))]).compactMap { $0.column("id")?.integer }
        }
        if let through = doomed.max() {
            _ = try await query(
                "INSERT INTO store_meta (key, value) VALUES ('pruned_through', ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                [.integer(through)])
        }
        return doomed.count
    }

    public func prunedThrough() async throws -> MessageID? {
        try await query("SELECT value FROM store_meta WHERE key = 'pruned_through'").first?.column("value")?.integer.flatMap { MessageID(stored: $0) }
    }

    public func figures() async throws -> StoreFigures {
        let r = try await query("SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM messages").first
        func end(_ column: String) async throws -> (id: MessageID, time: Date)? {
            guard let id = r?.column(column)?.integer, let messageID = MessageID(stored: id),
                let t = try await query("SELECT time FROM messages WHERE id = ?", [.integer(id)]).first?.column("time")?.integer
            else { return nil }
            return (messageID, Date(timeIntervalSince1970: Double(t) / 1_000_000))
        }
        let bytes = ["", "-wal", "-shm"].reduce(0) { sum, suffix in
            sum + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0)
        }
        return StoreFigures(rows: Int(r?.column("n")?.integer ?? 0), oldest: try await end("lo"), newest: try await end("hi"), bytesOnDisk: bytes)
    }

    // MARK: Plumbing

    private func current() throws -> SQLiteConnection {
        guard let conn = connection.withLock({ $0 }) else {
            throw StoreFailure(.other, location: location, detail: "the database is not open")
        }
        return conn
    }

    private func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        do {
            return try await rows(try current(), sql, binds)
        } catch let error as StoreFailure {
            throw error
        } catch {
            throw failure(error)
        }
    }

    /// Runs one statement on the connection's thread pool and collects its rows there.
    private func rows(_ conn: SQLiteConnection, _ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        let collected = Mutex<[SQLiteRow]>([])
        try await conn.query(sql, binds) { row in collected.withLock { $0.append(row) } }
        return collected.withLock { $0 }
    }

    /// The store's words for what SQLite said.
    private func failure(_ error: any Error) -> StoreFailure {
        if let f = error as? StoreFailure { return f }
        guard let e = error as? SQLiteError else { return StoreFailure(.other, location: location, detail: "\(error)") }
        let code = String(describing: e.reason)
        let reason: StoreFailure.Reason =
            if code.hasPrefix("busy") || code.hasPrefix("locked") { .locked }
            else if code.hasPrefix("readOnly") || code.hasPrefix("permission") || code.hasPrefix("cantOpen") || code.hasPrefix("auth") { .unwritable }
            else if code.hasPrefix("corrupt") || code.hasPrefix("notADatabase") { .corrupt }
            else if code.hasPrefix("full") { .full }
            else { .other }
        return StoreFailure(reason, location: location, detail: e.message)
    }
}
