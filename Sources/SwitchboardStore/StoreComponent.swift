import Foundation
import Logging
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `store` component: keeps every message of its source on disk, for acks that mean
/// "stored", history pages, and clients resuming across restarts.
///
/// ```json
/// "archive": { "type": "store", "using": { "source": "fanout" },
///              "engine": "sqlite", "path": "data/chat.sqlite",
///              "retention": { "maxAge": "7d", "maxMessages": 1000000 } }
/// ```
///
/// It reads its source through a tap of its own with the `block` policy, so it never skips a
/// message (a store that falls behind slows the source, as core.async's `block` does), and
/// writes what it has taken in one transaction per batch (group commit).
public final class StoreComponent: MessageStore, ConsoleCommands, Degradable {
    struct Config {
        var engine: String
        /// The SQLite file, or the PostgreSQL table.
        var path: String
        var retention: Retention
        var pruneInterval: Duration
        var batch: Int
        var capacity: Int
        var commitTimeout: Duration
        var lockTimeout: Duration
        var integrityCheck: Bool

        init(_ c: ConfigReader, name: String, hasDatabase: Bool) {
            engine = c.oneOf("engine", ["sqlite", "postgres"], default: hasDatabase ? "postgres" : "sqlite")
            if engine == "postgres" {
                path = c.string("table", default: "store_\(name)")
                if !hasDatabase { c.issue(.missingField, "using", "\"engine\": \"postgres\" needs a database: add \"database\" (a postgres component) to \"using\"") }
            } else {
                path = c.resolvedPath(c.string("path", default: "data/\(c.systemName).sqlite"))
                if hasDatabase { c.issue(.invalidValue, "engine", "a \"database\" slot needs \"engine\": \"postgres\"") }
            }
            (retention, pruneInterval) = Self.updatable(c)
            batch = c.int("batch", default: 500, in: 1...10_000)
            capacity = c.int("capacity", default: 4096, in: 1...10_000_000)
            commitTimeout = c.duration("commitTimeout", default: .seconds(5), in: .milliseconds(10)...(.seconds(3600)))
            lockTimeout = c.duration("lockTimeout", default: .seconds(5), in: .zero...(.seconds(3600)))
            integrityCheck = c.oneOf("integrityCheck", ["start", "off"], default: "start") == "start"
        }

        static func updatable(_ c: ConfigReader) -> (Retention, Duration) {
            (Retention(c.object("retention")), c.duration("pruneInterval", default: .seconds(10), in: .milliseconds(10)...(.seconds(86_400))))
        }
    }

    private struct Running {
        let tap: Tap<Message>
        /// Commits what the tap hands over.
        let writer: Task<Void, Never>
        /// Times out late tickets and prunes.
        let upkeep: Task<Void, Never>
    }

    private struct State {
        var retention: Retention
        var pruneInterval: Duration
        var running: Running?
        /// Set when a write failed: tickets fail at once until the store starts again.
        var failure: String?
        var lastError: String?
    }

    private let name: String
    private let source: Dependency<any MessageFanout>
    private let config: Config
    private let engine: any StoreEngine
    /// The PostgreSQL database of the postgres engine.
    private let database: Dependency<PostgresComponent>?
    private let runtime: ComponentRuntime
    private let board: CommitBoard
    private let state: Mutex<State>
    private let meter = WriteMeter()

    init(_ context: ComponentContext) {
        name = context.name
        source = context.dependency("source", as: (any MessageFanout).self, "the mult or pub whose messages are stored")
        let database = context.optionalDependency("database", as: PostgresComponent.self, "the PostgreSQL database of \"engine\": \"postgres\"")
        config = Config(context.config, name: context.name, hasDatabase: database != nil)
        self.database = database
        runtime = context.runtime
        if let database {
            engine = PostgresEngine(table: config.path, database: database)
        } else {
            engine = SQLiteEngine(path: config.path, lockTimeout: config.lockTimeout, checksIntegrity: config.integrityCheck, logger: context.logger)
        }
        board = CommitBoard(timeout: config.commitTimeout)
        state = Mutex(State(retention: config.retention, pruneInterval: config.pruneInterval))
    }

    /// The component type.
    public static let type = ComponentType(
        "store", summary: "Keeps every message on disk (SQLite, or PostgreSQL): stored acks, history, resume across restarts.",
        updatableFields: ["retention", "pruneInterval"],
        console: ConsoleTopic("history", usage: "history [store] [--room R] [-n N]", summary: "the most recent stored messages, oldest first", runsBare: true),
        capabilities: ["message-store", "degradable"]
    ) { StoreComponent($0) }

    // MARK: Lifecycle

    public func start() async throws {
        // Starting again after a write failure: let go of the failed run first, then carry on
        // from what is on disk.
        if state.withLock({ $0.running != nil }) { try await stop() }
        try await engine.open()
        let tap: Tap<Message>
        do {
            if let newest = try await engine.newestID() { MessageID.advance(past: newest) }
            tap = try source.get().tap(TapOptions(name: "store:\(name)", policy: .block, capacity: config.capacity, topic: "*"))
        } catch {
            await engine.close()
            throw error
        }
        let writer = Task { await self.write(from: tap) }
        let upkeep = Task { [board] in
            await SwitchboardStore.upkeep(board: board, settings: { self.state.withLock { ($0.retention, $0.pruneInterval) } }) { _ = await self.prune($0) }
        }
        state.withLock { s in
            s.running = Running(tap: tap, writer: writer, upkeep: upkeep)
            s.failure = nil
        }
    }

    public func stop() async throws {
        guard let r = state.withLock({ s -> Running? in defer { s.running = nil }; return s.running }) else { return }
        // What the tap holds is still written: the writer ends when the closed tap is empty.
        r.tap.cancel()
        await r.writer.value
        r.upkeep.cancel()
        await r.upkeep.value
        board.failAll(.notRunning(name))
        await engine.close()
    }

    /// Waits until what the source has handed over is on disk, or `deadline`.
    public func drain(until deadline: ContinuousClock.Instant) async {
        guard let tap = state.withLock({ $0.running?.tap }) else { return }
        await waitUntil(deadline) { [meter] in tap.chan.stats.count == 0 && meter.lag == 0 }
    }

    public func update(_ config: ConfigReader) async throws {
        let (retention, interval) = Config.updatable(config)
        try config.throwIssues()
        state.withLock { s in
            s.retention = retention
            s.pruneInterval = interval
        }
    }

    // MARK: Writing

    /// Takes batches from the tap and commits each in one transaction, settling the tickets of
    /// its messages. A failed commit fails the store: its tickets fail, the tap is let go so
    /// the source is not held back, and the map marks the store `failed`.
    private func write(from tap: Tap<Message>) async {
        while true {
            let batch = await tap.chan.receive(upTo: config.batch)
            if batch.isEmpty { return }
            meter.taken(batch.count)
            let started = ContinuousClock.now
            do {
                try await engine.append(batch)
            } catch {
                let why = "\(error)"
                meter.committed(batch.count, failed: true, in: .zero)
                state.withLock { s in
                    s.failure = why
                    s.lastError = why
                }
                tap.cancel()
                board.failed(batch.lazy.map(\.id), .writeFailed(why))
                board.failAll(.writeFailed(why))
                runtime.fail(error)
                return
            }
            meter.committed(batch.count, failed: false, in: .now - started)
            board.committed(batch.lazy.map(\.id))
        }
    }

    /// Removes what the retention no longer keeps; returns how many.
    package func prune(_ retention: Retention? = nil) async -> Int {
        let retention = retention ?? state.withLock { $0.retention }
        do {
            let total = try await pruneAll(engine, retention)
            if total > 0 { runtime.logger.debug("pruned \(total) messages") }
            return total
        } catch {
            state.withLock { $0.lastError = "prune: \(error)" }
            runtime.logger.error("pruning failed: \(error)")
            return 0
        }
    }

    // MARK: MessageStore

    public func expectCommit(of id: MessageID) -> CommitTicket {
        let (running, failure) = state.withLock { ($0.running != nil, $0.failure) }
        if let failure { return .settled(id, .failure(.writeFailed(failure))) }
        guard running else { return .settled(id, .failure(.notRunning(name))) }
        return board.expect(id)
    }

    public func history(_ query: HistoryQuery) async throws -> HistoryPage {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await noticingDamage { try await engine.page(query) }
    }

    public func id(back count: Int, _ query: HistoryQuery) async throws -> MessageID? {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await noticingDamage { try await engine.id(back: count, query) }
    }

    public func prunedThrough() async throws -> MessageID? {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await noticingDamage { try await engine.prunedThrough() }
    }

    /// Why the store cannot serve now: the PostgreSQL database of its engine is away.
    public var degradation: String? {
        (try? database?.get())?.degradation.map { "its database is unreachable: \($0)" }
    }

    /// Runs `operation`; a damaged database file fails the store (status, `/readyz` and the log
    /// say so, stored acks are refused) instead of answering 503 page after page while
    /// publishes still get 202.
    private func noticingDamage<T>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let failure as StoreFailure where failure.reason == .corrupt {
            let why = "\(failure)"
            let first = state.withLock { s in
                defer { s.failure = why; s.lastError = why }
                return s.failure == nil
            }
            if first {
                runtime.logger.critical("the database is damaged: \(why). \(StoreFailure.corruptAdvice(engine.location))")
                board.failAll(.writeFailed(why))
                runtime.fail(failure)
            }
            throw failure
        }
    }

    // MARK: Console

    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        var room: String?
        var count = 20
        var rest = words[...]
        if rest.first == name { rest = rest.dropFirst() }
        while let word = rest.popFirst() {
            switch word {
            case "--room":
                guard let r = rest.popFirst(), !r.hasPrefix("-") else { throw ConsoleCommandError(.usage, "--room takes a room name") }
                room = r
            case "-n":
                guard let n = rest.popFirst().flatMap({ Int($0) }), (1...500).contains(n) else {
                    throw ConsoleCommandError(.usage, "-n takes a number from 1 to 500")
                }
                count = n
            default: throw ConsoleCommandError(.usage, "unexpected \"\(word)\"")
            }
        }
        let page = try await history(HistoryQuery(room: room, cursor: .latest, limit: count))
        let messages = page.messages.reversed()
        let lines = messages.map { m in
            "\(m.id) \(LifecycleEvent.timestamp(m.time)) [\(m.room ?? Message.defaultRoom)] \(m.from)\(m.to.map { " → \($0)" } ?? ""): \(m.text)"
        }
        let text = lines.isEmpty ? "no stored messages" + (room.map { " in \($0)" } ?? "") : lines.joined(separator: "\n")
        return (text, ["messages": .array(messages.map(\.json)), "more": .bool(page.next != nil)])
    }

    // MARK: Figures

    public func inspect() async -> JSONValue {
        let s = state.withLock { $0 }
        var o = JSONObject()
        o["engine"] = .string(config.engine)
        o[config.engine == "postgres" ? "table" : "path"] = .string(config.path)
        o["source"] = .string(source.target)
        o["retention"] = s.retention.json
        if s.running != nil, let f = try? await engine.figures() {
            o["rows"] = .int(f.rows)
            o["oldest"] = f.oldest.map { ["id": .string($0.id.description), "time": .string(LifecycleEvent.timestamp($0.time))] } ?? .null
            o["newest"] = f.newest.map { ["id": .string($0.id.description), "time": .string(LifecycleEvent.timestamp($0.time))] } ?? .null
            o["bytesOnDisk"] = .int(f.bytesOnDisk)
        }
        let m = meter.snapshot()
        o["writesPerSecond"] = .double(m.perSecond)
        o["averageBatch"] = .double(m.averageBatch)
        o["commitSeconds"] = .double(m.averageCommit)
        o["written"] = .int(m.committed)
        o["lag"] = .int(lag)
        o["waitingAcks"] = .int(board.waiting)
        o["lastError"] = s.lastError.map(JSONValue.string) ?? .null
        if let tap = s.running?.tap { o["tap"] = tap.json }
        return .object(o)
    }

    /// Messages taken but not yet committed, plus those waiting in the tap.
    public var lag: Int {
        meter.lag + (state.withLock { $0.running?.tap.counters.buffered } ?? 0)
    }
}

/// Write figures: taken, committed, batches, rate over the last seconds.
final class WriteMeter: Sendable {
    private struct State {
        var taken = 0
        var committed = 0
        var batches = 0
        var commitTime = Duration.zero
        /// Committed messages per whole second (the last 5).
        var seconds: [(second: Int, count: Int)] = []
    }

    struct Snapshot {
        var committed: Int
        var lag: Int
        var perSecond: Double
        var averageBatch: Double
        var averageCommit: Double
    }

    private let state = Mutex(State())

    func taken(_ n: Int) { state.withLock { $0.taken += n } }

    func committed(_ n: Int, failed: Bool, in time: Duration) {
        let second = Int(Date().timeIntervalSince1970)
        state.withLock { s in
            if failed { s.taken -= n; return }
            s.committed += n
            s.batches += 1
            s.commitTime += time
            if s.seconds.last?.second == second { s.seconds[s.seconds.count - 1].count += n } else { s.seconds.append((second, n)) }
            if s.seconds.count > 6 { s.seconds.removeFirst() }
        }
    }

    var lag: Int { state.withLock { $0.taken - $0.committed } }

    func snapshot() -> Snapshot {
        let now = Int(Date().timeIntervalSince1970)
        return state.withLock { s in
            let recent = s.seconds.filter { $0.second < now && $0.second >= now - 5 }.reduce(0) { $0 + $1.count }
            return Snapshot(
                committed: s.committed, lag: s.taken - s.committed, perSecond: Double(recent) / 5,
                averageBatch: s.batches == 0 ? 0 : Double(s.committed) / Double(s.batches),
                averageCommit: s.batches == 0 ? 0 : s.commitTime.milliseconds / 1000 / Double(s.batches))
        }
    }
}

/// The component types of durable storage.
public enum StoreComponents {
    /// `store`.
    public static var types: [ComponentType] { [StoreComponent.type, PostgresComponent.type, BusComponent.type] }
}
