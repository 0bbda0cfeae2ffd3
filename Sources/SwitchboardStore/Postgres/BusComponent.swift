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
        /// Whether console commands travel between instances through this bus (`@all …`).
        var console: Bool

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
            console = c.bool("console", default: false)
        }
    }

    struct Running {
        let inbox: Chan<Message>
        let out: Chan<Message>
        let tasks: [Task<Void, Never>]
        let wake: Wakeup
        /// Wakes the writer of this instance's presence rows.
        let presenceWritten: Wakeup
        /// Wakes the reader of the other instances' presence.
        let presenceRead: Wakeup
        let started: Date
    }

    struct State {
        var running: Running?
        var retention: Retention
        var pruneInterval: Duration
        /// The last `seq` emitted; kept across a restart of the bus so nothing is emitted twice.
        var lastSeq: Int64?
        var listening = false
        var written = 0
        var notStored = 0
        var read = 0
        var restamped = 0
        var listenLost = 0
        var catchUps = 0
        /// Rows emitted from NOTIFY payloads (the rest of `read` came from reads of the log).
        var announced = 0
        /// NOTIFYs received (rows, presence and wake-ups alike).
        var notifications = 0
        /// Appends (one statement each).
        var batches = 0
        /// The log's rows not yet emitted here, at the last heartbeat.
        var lag: Int64 = 0
        var lastError: String?
    }

    let name: String
    let instance: String
    let source: Dependency<any MessageChannel>
    let database: Dependency<PostgresComponent>
    let config: Config
    let runtime: ComponentRuntime
    let log: BusLog
    let board: CommitBoard
    let state: Mutex<State>
    /// The appends' connection, the catch-up reads' and the heartbeat's and presence's: each
    /// of its own, not the pool's (`OwnConnection` says why); `beats` carries the heartbeat and presence.
    let writer = OwnConnection()
    let reader = OwnConnection()
    let beats = OwnConnection()
    let presence = SharedPresence()
    let relays = Mutex(ConsoleRelays())
    let system: SystemHandle

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
        console: ConsoleTopic("cluster", usage: "cluster [bus]", summary: "every live instance of the system: name, pid, uptime, subscribers", runsBare: true),
        capabilities: ["message-store", "degradable"]
    ) { BusComponent($0) }

    // MARK: Lifecycle

    public func start() async throws {
        guard state.withLock({ $0.running == nil }) else { return }
        let db = try database.get()
        try await log.engine.open()
        if let newest = try await log.engine.newestID() { MessageID.advance(past: newest) }
        try await log.prepareHead(db: db)
        try await db.transaction { conn in try await PublishFunction.install(on: conn) }
        let head = try await log.head(db: db)
        let inbox = try source.get().currentChan()
        let out = Chan<Message>(.fixed(config.capacity))
        let wake = Wakeup()
        let inflow = Announcements(limit: max(config.capacity, 1000))
        let (presenceWritten, presenceRead) = (Wakeup(), Wakeup())
        let started = Date()
        state.withLock { s in
            if s.lastSeq == nil { s.lastSeq = head }
        }
        let tasks = [
            Task { await self.write(from: inbox, wake: wake, inflow: inflow) },
            Task { await self.read(into: out, wake: wake, inflow: inflow) },
            Task { await self.listen(wake: wake, presence: presenceRead, inflow: inflow) },
            Task { await self.poll(wake: wake, inflow: inflow) },
            Task { await self.beat(started: started, presence: (presenceWritten, presenceRead)) },
            Task { await self.writePresence(wake: presenceWritten) },
            Task { await self.readPresence(wake: presenceRead) },
            Task { [board] in
                await upkeep(board: board, settings: { self.state.withLock { ($0.retention, $0.pruneInterval) } }) { await self.prune($0) }
            },
        ]
        state.withLock {
            $0.running = Running(inbox: inbox, out: out, tasks: tasks, wake: wake, presenceWritten: presenceWritten, presenceRead: presenceRead,
                                 started: started)
        }
        runtime.logger.info("bus on \(db.location) table \(config.table) as instance \(instance), from seq \(head)")
    }

    public func stop() async throws {
        guard let r = state.withLock({ s -> Running? in defer { s.running = nil }; return s.running }) else { return }
        for t in r.tasks { t.cancel() }
        for t in r.tasks { await t.value }
        r.out.close()
        await withdrawPresence()
        board.failAll(.notRunning(name))
        if let db = try? database.get() {
            _ = try? await log.heartbeat(instance, started: r.started, subscribers: 0, state: "stopped", lastSeq: state.withLock { $0.lastSeq }, on: beats, db: db)
        }
        for conn in [writer, reader, beats] { await conn.drop() }
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
    private func write(from inbox: Chan<Message>, wake: Wakeup, inflow: Announcements) async {
        while !Task.isCancelled {
            let batch = await inbox.receive(upTo: config.batch)
            if batch.isEmpty { return }
            // Whether the statement was sent: a failure after that may have committed all the same.
            var sent = false
            do {
                let conn = try await writer.get(database.get())
                sent = true
                let ids = try await database.get().within(config.commitTimeout, "no commit") { [log, instance] in
                    try await log.append(batch, origin: instance, on: conn)
                }
                let restamped = zip(batch, ids).filter { $0.0.id != $0.1 }.count
                state.withLock { s in
                    s.written += batch.count
                    s.batches += 1
                    s.restamped += restamped
                }
                board.committed(zip(batch.lazy.map(\.id), ids))
                // The batch comes back through LISTEN like everyone's; without it, read the log.
                if !state.withLock({ $0.listening }) {
                    inflow.readLog()
                    wake.signal()
                }
            } catch {
                let failure = noted(error)
                state.withLock { s in
                    s.notStored += batch.count
                    s.lastError = failure.description
                }
                await writer.drop()
                let lostMidCommit = sent && [.connectionLost, .timedOut, .unreachable].contains(failure.reason)
                board.failed(batch.lazy.map(\.id), lostMidCommit ? .outcomeUnknown(failure.description) : .writeFailed(failure.description))
                runtime.logger.warning("\(batch.count) message(s) not written to the log: \(failure)")
            }
        }
    }

    /// `error` in the database's words, recorded there (a lost connection makes it degraded).
    func noted(_ error: any Error) -> StoreFailure {
        (try? database.get())?.note(error) ?? StoreFailure.postgres(error, location: log.engine.location)
    }

    // MARK: Upkeep

    /// Removes from the log what the retention no longer keeps.
    private func prune(_ retention: Retention) async {
        do {
            _ = try await pruneAll(log.engine, retention)
        } catch {
            state.withLock { $0.lastError = "prune: \(error)" }
        }
    }

    /// Writes this instance's heartbeat row every `heartbeat`, then has the presence of the
    /// others read again (an instance whose beats stopped drops out) and this one's rewritten
    /// if a write failed.
    private func beat(started: Date, presence wakes: (written: Wakeup, read: Wakeup)) async {
        repeat {
            let clients = system.components.values.compactMap { $0 as? any ClientCounting }.reduce(0) { $0 + $1.connectedClients }
            do {
                let lastSeq = state.withLock { $0.lastSeq }
                let head = try await log.heartbeat(instance, started: started, subscribers: clients, state: "running", lastSeq: lastSeq, on: beats, db: try database.get())
                state.withLock { $0.lag = max(0, head - (lastSeq ?? head)) }
            } catch {
                state.withLock { $0.lastError = "heartbeat: \(error)" }
            }
            wakes.read.signal()
            if presence.state.withLock({ !$0.dirty.isEmpty }) { wakes.written.signal() }
        } while (try? await Task.sleep(for: config.heartbeat)) != nil
    }

    // MARK: MessageStore

    public var assignsIDs: Bool { true }

    public var deliversFromCommits: Bool { true }

    public func expectCommit(of id: MessageID) -> CommitTicket {
        guard state.withLock({ $0.running != nil }) else { return .settled(id, .failure(.notRunning(name))) }
        // The database is away and the writer has no connection: refuse before the put, so the
        // publisher's retry makes no duplicate.
        if let db = try? database.get(), db.isDegraded, !writer.isHeld {
            return .settled(id, .failure(.writeFailed("the database is unreachable")))
        }
        return board.expect(id)
    }

    public func history(_ query: HistoryQuery) async throws -> HistoryPage {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await log.engine.page(query)
    }

    public func id(back count: Int, _ query: HistoryQuery) async throws -> MessageID? {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await log.engine.id(back: count, query)
    }

    public func prunedThrough() async throws -> MessageID? {
        guard state.withLock({ $0.running != nil }) else { throw NotRunning(name) }
        return try await log.engine.prunedThrough()
    }
}
