import Foundation
import Logging
import PostgresNIO
import Switchboard
import SwitchboardChannels
import Synchronization

/// The `bus` component: several instances, one chat. Every message of the local `source` is
/// appended to a shared log in PostgreSQL and announced with NOTIFY; every instance reads the
/// log in order and emits what it reads (its own messages included), so a `mult` on the bus
/// gives every instance the same messages in the same order with the same ids.
///
/// ```json
/// "bus": { "type": "bus", "engine": "postgres", "using": { "source": "inbox", "database": "db" } },
/// "fanout": { "type": "mult", "using": { "source": "bus" } }
/// ```
///
/// The bus is a channel (put onto it and the message goes to the log; take from it and you
/// get the log) and a store: an input's `"ack": "stored"` with the bus in its `store` slot
/// answers once the row is committed, and the bus serves history and resumes from the log.
/// A missed NOTIFY or a lost LISTEN connection is covered by catching up from the last `seq`
/// read, on reconnect and every `pollInterval`.
public final class BusComponent: MessageChannel, MessageStore, ConsoleCommands {
    struct Config {
        var table: String
        var batch: Int
        var capacity: Int
        var pollInterval: Duration
        var heartbeat: Duration
        var commitTimeout: Duration
        var retention: Retention
        var pruneInterval: Duration

        init(_ c: ConfigReader, name: String) {
            _ = c.oneOf("engine", ["postgres"], default: "postgres")
            table = c.string("table", default: "bus_\(name)")
            if table.contains("\"") || table.isEmpty { c.issue(.invalidValue, "table", "a table name is not empty and has no double quote") }
            batch = c.int("batch", default: 500, in: 1...10_000)
            capacity = c.int("capacity", default: 1024, in: 1...10_000_000)
            pollInterval = c.duration("pollInterval", default: .milliseconds(500), in: .milliseconds(10)...(.seconds(3600)))
            heartbeat = c.duration("heartbeat", default: .seconds(2), in: .milliseconds(100)...(.seconds(3600)))
            commitTimeout = c.duration("commitTimeout", default: .seconds(5), in: .milliseconds(10)...(.seconds(3600)))
            (retention, pruneInterval) = StoreComponent.Config.updatable(c)
        }
    }

    private struct Running {
        let inbox: Chan<Message>
        let out: Chan<Message>
        let tasks: [Task<Void, Never>]
        let wake: Wakeup
        let started: Date
    }

    private struct State {
        var running: Running?
        var retention: Retention
        var pruneInterval: Duration
        /// The last `seq` emitted; kept across a restart of the bus so nothing is emitted twice.
        var lastSeq: Int64?
        var writer: PostgresConnection?
        var listening = false
        var written = 0
        var notStored = 0
        var read = 0
        var restamped = 0
        var listenLost = 0
        var catchUps = 0
        var lastError: String?
    }

    private let name: String
    private let instance: String
    private let source: Dependency<any MessageChannel>
    private let database: Dependency<PostgresComponent>
    private let config: Config
    private let runtime: ComponentRuntime
    private let log: BusLog
    private let board: CommitBoard
    private let state: Mutex<State>
    private let system: SystemHandle

    init(_ context: ComponentContext) {
        name = context.name
        instance = context.config.instanceName
        source = context.dependency("source", as: (any MessageChannel).self, "the local channel whose messages go to the shared log")
        database = context.dependency("database", as: PostgresComponent.self, "the PostgreSQL database holding the log")
        config = Config(context.config, name: context.name)
        runtime = context.runtime
        log = BusLog(engine: PostgresEngine(table: config.table, database: database))
        board = CommitBoard(timeout: config.commitTimeout)
        state = Mutex(State(retention: config.retention, pruneInterval: config.pruneInterval))
        system = context.system
    }

    /// The component type.
    public static let type = ComponentType(
        "bus", summary: "Shares a channel between instances through a PostgreSQL log: same messages, same order, same ids everywhere.",
        updatableFields: ["retention", "pruneInterval"],
        console: ConsoleTopic("cluster", usage: "cluster [bus]", summary: "every live instance of the system: name, pid, uptime, subscribers", runsBare: true)
    ) { BusComponent($0) }

    // MARK: Lifecycle

    public func start() async throws {
        guard state.withLock({ $0.running == nil }) else { return }
        let db = try database.get()
        try await log.engine.open()
        if let newest = try await log.engine.newestID() { MessageID.advance(past: newest) }
        let head = try await log.head(db: db)
        let inbox = try source.get().currentChan()
        let out = Chan<Message>(.fixed(config.capacity))
        let wake = Wakeup()
        let started = Date()
        state.withLock { s in
            if s.lastSeq == nil { s.lastSeq = head }
        }
        let tasks = [
            Task { await self.write(from: inbox, wake: wake) },
            Task { await self.read(into: out, wake: wake) },
            Task { await self.listen(wake: wake) },
            Task { await self.poll(wake: wake) },
            Task { await self.beat(started: started) },
            Task { await self.upkeep() },
        ]
        state.withLock { $0.running = Running(inbox: inbox, out: out, tasks: tasks, wake: wake, started: started) }
        runtime.logger.info("bus on \(db.location) table \(config.table) as instance \(instance), from seq \(head)")
    }

    public func stop() async throws {
        guard let r = state.withLock({ s -> Running? in defer { s.running = nil }; return s.running }) else { return }
        for t in r.tasks { t.cancel() }
        for t in r.tasks { await t.value }
        r.out.close()
        board.failAll(.notRunning(name))
        if let conn = state.withLock({ s -> PostgresConnection? in defer { s.writer = nil }; return s.writer }) {
            try? await conn.close()
        }
        if let db = try? database.get() {
            try? await log.heartbeat(instance, started: r.started, subscribers: 0, state: "stopped", db: db)
        }
    }

    /// Stops for a reload that replaces the bus, handing over the last `seq` read, so the
    /// replacement emits what was committed meanwhile instead of starting at the log's head.
    public func suspend() async throws -> (any Sendable)? {
        try await stop()
        return state.withLock { $0.lastSeq }.map(Suspended.init)
    }

    public func resume(from suspended: any Sendable) async throws {
        if let s = suspended as? Suspended { state.withLock { $0.lastSeq = s.lastSeq } }
        try await start()
    }

    struct Suspended: Sendable {
        let lastSeq: Int64
    }

    /// Waits until what the local source holds is in the log and what the log holds for this
    /// instance has been emitted, or `deadline`.
    public func drain(until deadline: ContinuousClock.Instant) async {
        guard let r = state.withLock({ $0.running }) else { return }
        await waitUntil(deadline) { r.inbox.stats.count == 0 && r.out.stats.count == 0 && self.board.waiting == 0 }
    }

    public func update(_ config: ConfigReader) async throws {
        let (retention, interval) = StoreComponent.Config.updatable(config)
        try config.throwIssues()
        state.withLock { s in
            s.retention = retention
            s.pruneInterval = interval
        }
    }

    // MARK: MessageChannel

    /// The messages read from the log, in log order (what a mult on the bus fans out).
    public func currentChan() throws -> Chan<Message> {
        guard let out = state.withLock({ $0.running?.out }) else { throw NotRunning(name) }
        return out
    }

    /// Puts onto the local source, whence the message goes to the log.
    public func put(_ message: Message, timeout: Duration) async -> PutOutcome {
        guard state.withLock({ $0.running != nil }), let source = try? source.get() else { return .closed }
        return await source.put(message, timeout: timeout)
    }

    // MARK: Writing

    /// Takes batches from the local source and appends each to the log in one transaction,
    /// settling their tickets with the ids they were stored as. A batch that cannot be written
    /// (the database is away) is not in the log, so it reaches nobody: its tickets fail (a
    /// publisher with `"ack": "stored"` gets 503) and the bus goes on with the next.
    private func write(from inbox: Chan<Message>, wake: Wakeup) async {
        while !Task.isCancelled {
            let batch = await inbox.receive(upTo: config.batch)
            if batch.isEmpty { return }
            do {
                let conn = try await writer()
                let result = await withDeadline(config.commitTimeout) { [log, instance] () -> Result<[MessageID], any Error> in
                    do { return .success(try await log.append(batch, origin: instance, on: conn)) } catch { return .failure(error) }
                }
                guard let result else {
                    throw PostgresFailure(.timedOut, location: log.engine.location, detail: "no commit within \(config.commitTimeout.short)")
                }
                let ids = try result.get()
                let restamped = zip(batch, ids).filter { $0.0.id != $0.1 }.count
                state.withLock { s in
                    s.written += batch.count
                    s.restamped += restamped
                }
                board.committed(zip(batch.lazy.map(\.id), ids))
                wake.signal()
            } catch {
                let failure = (try? database.get())?.note(error) ?? PostgresFailure.from(error, location: log.engine.location)
                let conn = state.withLock { s -> PostgresConnection? in
                    s.notStored += batch.count
                    s.lastError = failure.description
                    defer { s.writer = nil }
                    return s.writer
                }
                try? await conn?.close()
                board.failed(batch.lazy.map(\.id), .writeFailed(failure.description))
                runtime.logger.warning("\(batch.count) message(s) not written to the log: \(failure)")
            }
        }
    }

    /// The writer's own connection (a writer must not queue behind the pool while the database
    /// is away): made on first use and after a failure.
    private func writer() async throws -> PostgresConnection {
        if let conn = state.withLock({ $0.writer }), !conn.isClosed { return conn }
        let conn = try await database.get().connect()
        state.withLock { $0.writer = conn }
        return conn
    }

    // MARK: Reading

    /// Emits the log's new rows in `seq` order whenever woken: by a NOTIFY, by this instance's
    /// own commit, by the poll, or after LISTEN (re)connects.
    private func read(into out: Chan<Message>, wake: Wakeup) async {
        while await wake.wait() {
            do {
                try await catchUp(into: out)
            } catch {
                if Task.isCancelled { return }
                let failure = (try? database.get())?.note(error) ?? PostgresFailure.from(error, location: log.engine.location)
                state.withLock { $0.lastError = failure.description }
            }
        }
    }

    private func catchUp(into out: Chan<Message>) async throws {
        let db = try database.get()
        state.withLock { $0.catchUps += 1 }
        while !Task.isCancelled {
            let after = state.withLock { $0.lastSeq ?? 0 }
            let rows = try await log.read(after: after, limit: 1000, db: db)
            for (seq, message) in rows {
                MessageID.advance(past: message.id)
                guard case .accepted = await out.send(message) else { return }
                state.withLock { s in
                    s.lastSeq = seq
                    s.read += 1
                }
            }
            if rows.count < 1000 { return }
        }
    }

    /// Holds a LISTEN connection; when it is lost, makes another (backing off up to 5 s) and
    /// wakes the reader to catch up on what went by meanwhile.
    private func listen(wake: Wakeup) async {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                let conn = try await database.get().connect()
                do {
                    try await conn.listen(on: log.channel) { notifications in
                        state.withLock { $0.listening = true }
                        backoff = .milliseconds(100)
                        wake.signal()
                        for try await _ in notifications { wake.signal() }
                    }
                } catch {
                    try? await conn.close()
                    throw error
                }
                try? await conn.close()
            } catch {
                if Task.isCancelled { break }
                let failure = (try? database.get())?.note(error) ?? PostgresFailure.from(error, location: log.engine.location)
                let wasListening = state.withLock { s -> Bool in
                    defer { s.listening = false }
                    if s.listening { s.listenLost += 1 }
                    s.lastError = failure.description
                    return s.listening
                }
                if wasListening { runtime.logger.warning("LISTEN connection lost; catching up from the log: \(failure)") }
            }
            state.withLock { $0.listening = false }
            wake.signal()
            guard (try? await Task.sleep(for: backoff)) != nil else { break }
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// Wakes the reader every `pollInterval`, covering a NOTIFY that never came.
    private func poll(wake: Wakeup) async {
        while (try? await Task.sleep(for: config.pollInterval)) != nil { wake.signal() }
        wake.finish()
    }

    // MARK: Upkeep

    /// Times out late tickets (every 100 ms) and prunes the log by the retention.
    private func upkeep() async {
        var nextPrune = ContinuousClock.now
        while (try? await Task.sleep(for: .milliseconds(100))) != nil {
            board.sweep()
            guard ContinuousClock.now >= nextPrune else { continue }
            let (retention, interval) = state.withLock { ($0.retention, $0.pruneInterval) }
            nextPrune = .now + interval
            guard retention.maxAge != nil || retention.maxMessages != nil else { continue }
            do {
                while !Task.isCancelled, try await log.engine.prune(retention, now: Date(), limit: 1000) == 1000 {}
            } catch {
                state.withLock { $0.lastError = "prune: \(error)" }
            }
        }
    }

    /// Writes this instance's heartbeat row every `heartbeat`.
    private func beat(started: Date) async {
        repeat {
            let clients = system.components.values.compactMap { $0 as? any ClientCounting }.reduce(0) { $0 + $1.connectedClients }
            do {
                try await log.heartbeat(instance, started: started, subscribers: clients, state: "running", db: try database.get())
            } catch {
                state.withLock { $0.lastError = "heartbeat: \(error)" }
            }
        } while (try? await Task.sleep(for: config.heartbeat)) != nil
    }

    // MARK: MessageStore

    public var assignsIDs: Bool { true }

    public func expectCommit(of id: MessageID) -> CommitTicket {
        guard state.withLock({ $0.running != nil }) else { return .settled(id, .failure(.notRunning(name))) }
        // The database is away and the writer has no connection: refuse before the put, so the
        // publisher's retry makes no duplicate.
        if let db = try? database.get(), db.isDegraded, state.withLock({ $0.writer == nil }) {
            return .settled(id, .failure(.writeFailed("the database is unreachable")))
        }
        return board.expect(id)
    }

    public func history(_ query: HistoryQuery) async throws -> HistoryPage {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await log.engine.page(query)
    }

    public func prunedThrough() async throws -> MessageID? {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await log.engine.prunedThrough()
    }

    // MARK: Console and figures

    /// `cluster`: the instances seen within three heartbeats.
    public func console(_ words: [String]) async throws -> (text: String, data: JSONValue) {
        let rest = words.first == name ? Array(words.dropFirst()) : words
        if let extra = rest.first { throw ConsoleCommandError(.usage, "unexpected \"\(extra)\"") }
        let list = try await log.instances(within: config.heartbeat * 3, db: database.get())
        var rows = [["INSTANCE", "PID", "UP", "SUBSCRIBERS", "STATE", "SEEN"]]
        for i in list {
            let up = Int(Date().timeIntervalSince(i.started))
            let me = i.name == instance ? " (this one)" : ""
            rows.append([i.name + me, "\(i.pid)", up < 3600 ? "\(up / 60)m\(up % 60)s" : "\(up / 3600)h\((up % 3600) / 60)m",
                         "\(i.subscribers)", i.state, String(format: "%.1fs ago", i.age)])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        let text = rows.map { r in r.enumerated().map { $1.padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined() }
        return ("bus \(name) on \(config.table): \(list.count) live instance\(list.count == 1 ? "" : "s")\n" + text.joined(separator: "\n"),
                ["instances": .array(list.map(\.json))])
    }

    public func inspect() async -> JSONValue {
        let s = state.withLock { $0 }
        var o = JSONObject()
        o["instance"] = .string(instance)
        o["table"] = .string(config.table)
        o["source"] = .string(source.target)
        o["database"] = .string(database.target)
        o["lastSeq"] = s.lastSeq.map { .int(Int($0)) } ?? .null
        o["listening"] = .bool(s.listening)
        o["written"] = .int(s.written)
        o["notStored"] = .int(s.notStored)
        o["read"] = .int(s.read)
        o["restamped"] = .int(s.restamped)
        o["listenLost"] = .int(s.listenLost)
        o["catchUps"] = .int(s.catchUps)
        o["waitingAcks"] = .int(board.waiting)
        o["retention"] = s.retention.json
        o["lastError"] = s.lastError.map(JSONValue.string) ?? .null
        if let r = s.running {
            o["inbox"] = .int(r.inbox.stats.count)
            o["count"] = .int(r.out.stats.count)
            o["capacity"] = .int(config.capacity)
        }
        if let db = try? database.get(), db.isDegraded { o["degraded"] = "the database is unreachable" }
        return .object(o)
    }
}

/// A wake-up call that is not lost when nobody is waiting: signals that come while the reader
/// is busy fold into one.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var finished = false
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next `wait`.
    func signal() {
        let w = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let w = s.waiter else { s.pending = true; return nil }
            s.waiter = nil
            return w
        }
        w?.resume(returning: true)
    }

    /// Ends the waits: `wait` returns false from now on.
    func finish() {
        let w = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume(returning: false)
    }

    /// Returns true when signalled, false when finished or cancelled.
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { c in
                let now = state.withLock { s -> Bool? in
                    if s.finished || Task.isCancelled { return false }
                    if s.pending { s.pending = false; return true }
                    s.waiter = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            finish()
        }
    }
}
