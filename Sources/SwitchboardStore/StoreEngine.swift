import Foundation
import Switchboard
import SwitchboardChannels

/// The database behind a `store` component. SQLite is the embedded default; a PostgreSQL
/// engine plugs in the same way, and every test that is not about an engine runs against each.
///
/// An engine is used by one store at a time; the store calls `append` from one task, in
/// order, and the reads (`page`, `figures`) from any.
public protocol StoreEngine: Sendable {
    /// Where the data lives, for logs and errors (`sqlite /srv/data/chat.sqlite`).
    var location: String { get }
    /// Connects and brings the schema to the current version. Throws a `StoreFailure`.
    func open() async throws
    /// Lets go of the connection; idempotent.
    func close() async
    /// Writes `batch` in one transaction: all of it is on disk when this returns, or none.
    func append(_ batch: [Message]) async throws
    /// The newest stored id, if any.
    func newestID() async throws -> MessageID?
    /// A page of history.
    func page(_ query: HistoryQuery) async throws -> HistoryPage
    /// The id of the `count`-th newest message `query`'s room and viewer match (its cursor and
    /// limit are not used); nil when fewer match.
    func id(back count: Int, _ query: HistoryQuery) async throws -> MessageID?
    /// Removes at most `limit` messages that `retention` no longer keeps, oldest first;
    /// returns how many it removed.
    func prune(_ retention: Retention, now: Date, limit: Int) async throws -> Int
    /// The newest id ever removed by `prune` (kept across restarts).
    func prunedThrough() async throws -> MessageID?
    /// Rows, oldest and newest, and bytes on disk.
    func figures() async throws -> StoreFigures
}

/// Removes what `retention` no longer keeps from `engine`, 1,000 rows per statement so writes
/// go on in between; returns how many.
func pruneAll(_ engine: any StoreEngine, _ retention: Retention) async throws -> Int {
    guard retention.maxAge != nil || retention.maxMessages != nil else { return 0 }
    var total = 0
    while !Task.isCancelled {
        let n = try await engine.prune(retention, now: Date(), limit: 1000)
        total += n
        if n < 1000 { break }
    }
    return total
}

/// The chores of a component that keeps messages (a store, a bus), until cancelled: times out
/// late commit tickets every 100 ms, and prunes by the retention `settings` give, every
/// interval they give.
func upkeep(board: CommitBoard, settings: @Sendable () -> (Retention, Duration), prune: @Sendable (Retention) async -> Void) async {
    var nextPrune = ContinuousClock.now
    while (try? await Task.sleep(for: .milliseconds(100))) != nil {
        board.sweep()
        guard ContinuousClock.now >= nextPrune else { continue }
        let (retention, interval) = settings()
        nextPrune = .now + interval
        await prune(retention)
    }
}

/// How long a store keeps messages: either limit, or both (a message goes when either says so).
public struct Retention: Sendable, Equatable {
    /// Messages older than this go.
    public var maxAge: Duration?
    /// Past this many messages, the oldest go.
    public var maxMessages: Int?

    public init(maxAge: Duration? = nil, maxMessages: Int? = nil) {
        self.maxAge = maxAge
        self.maxMessages = maxMessages
    }

    /// Reads `{"maxAge": "7d", "maxMessages": 1000000}`.
    init(_ c: ConfigReader?) {
        maxAge = c?.duration("maxAge")
        maxMessages = c?.int("maxMessages", in: 1...Int(Int32.max))
        if let age = maxAge, age < .seconds(1) {
            c?.issue(.invalidValue, "maxAge", "maxAge is at least 1s")
            maxAge = nil
        }
    }

    var json: JSONValue {
        ["maxAge": maxAge.map { .string($0.short) } ?? .null, "maxMessages": maxMessages.map(JSONValue.int) ?? .null]
    }
}

/// What is in a store now.
public struct StoreFigures: Sendable, Equatable {
    public var rows: Int
    public var oldest: (id: MessageID, time: Date)?
    public var newest: (id: MessageID, time: Date)?
    public var bytesOnDisk: Int

    public init(rows: Int, oldest: (id: MessageID, time: Date)?, newest: (id: MessageID, time: Date)?, bytesOnDisk: Int) {
        self.rows = rows
        self.oldest = oldest
        self.newest = newest
        self.bytesOnDisk = bytesOnDisk
    }

    public static func == (a: StoreFigures, b: StoreFigures) -> Bool {
        a.rows == b.rows && a.oldest?.id == b.oldest?.id && a.newest?.id == b.newest?.id && a.bytesOnDisk == b.bytesOnDisk
    }
}

/// Why a database could not be opened, reached or written, with where it is (never a
/// password) and the database's own words: SQLite files and PostgreSQL servers alike.
public struct StoreFailure: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in kinds an operator acts on differently.
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
        /// The directory or file cannot be created or written.
        case unwritable
        /// Another process holds the database's write lock.
        case locked
        /// The file is not a database, or is damaged.
        case corrupt
        /// The disk (or the database's size limit) is full.
        case full
        /// Written by a newer version of Switchboard.
        case newerSchema
        /// Anything else the database said (a SQL error, say).
        case other
    }

    public let reason: Reason
    /// The engine and place (`sqlite /srv/data/chat.sqlite`, `postgres app@db:5432/chat`).
    public let location: String
    /// What the database said.
    public let detail: String

    public init(_ reason: Reason, location: String, detail: String) {
        self.reason = reason
        self.location = location
        self.detail = detail
    }

    /// What to do about a damaged database at `location`.
    static func corruptAdvice(_ location: String) -> String {
        guard location.hasPrefix("sqlite ") else { return "Restore the database from a backup." }
        let path = String(location.dropFirst("sqlite ".count))
        return "Stop the server, then restore \(path) from a backup, or recover what it holds with "
            + "`sqlite3 \(path) .recover | sqlite3 \(path).recovered` and point the store's path at the recovered file."
    }

    public var description: String {
        let what: String
        switch reason {
        case .unwritable: what = "cannot be written"
        case .locked: what = "is locked by another process"
        case .corrupt: what = "is not a database or is damaged"
        case .full: what = "is full (disk or size limit)"
        case .newerSchema: what = "was written by a newer Switchboard"
        case .unreachable: what = "is unreachable"
        case .authFailed: what = "refused the login"
        case .databaseMissing: what = "has no such database"
        case .timedOut: what = "did not answer in time"
        case .connectionLost: what = "closed the connection"
        case .tls: what = "could not set up TLS"
        case .other: what = "failed"
        }
        return "\(location) \(what): \(detail)"
    }
}
