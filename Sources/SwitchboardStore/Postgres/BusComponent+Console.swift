import Foundation
import PostgresNIO
import Switchboard
import Synchronization

/// One console for the whole cluster: with `"console": true`, the bus carries console commands
/// between the instances through its database — a row in `switchboard_console` and a NOTIFY
/// `c:<id>` out, rows in `switchboard_console_replies` and NOTIFYs `a:<id>` back. Whoever may
/// write those tables can therefore drive every instance whose bus says `"console": true`.
extension BusComponent: ClusterConsoleCarrier {
    public var consoleInstanceName: String { instance }

    public func consoleInstances() async throws -> [String] {
        try await seenInstances().map(\.name)
    }

    public func relay(_ line: String, to instances: [String], timeout: Duration,
                      event: @escaping @Sendable (String, String) async -> Void) async throws -> [(instance: String, reply: RemoteConsoleReply)] {
        guard config.console else {
            throw ConsoleCommandError(.notRunning, "bus \(name) does not carry console commands: set \"console\": true on it (on every instance)")
        }
        let db = try database.get()
        // The command may run for the time the origin waits, less a second for its answer,
        // within what an instance accepts (100 ms to an hour: `serve`), so that the
        // milliseconds fit the column whatever `timeout` a caller passes.
        let limit = min(max(.milliseconds(100), timeout - .seconds(1)), .seconds(3600))
        let id = try await db.query(PostgresQuery(unsafeSQL: """
            WITH old AS (DELETE FROM switchboard_console WHERE at < now() - interval '1 hour'),
            cmd AS (INSERT INTO switchboard_console (bus, origin, targets, line, limit_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id)
            SELECT id, pg_notify($1, 'c:' || id) FROM cmd
            """, binds: {
                var b = PostgresBindings()
                b.append(log.channel); b.append(instance); b.append(instances); b.append(line); b.append(Int(limit.milliseconds))
                return b
            }())).first?.makeRandomAccess()[0].decode(Int64.self)
        guard let id else { throw ConsoleCommandError(.notRunning, "the command was not recorded") }
        // Answers that came before this wait are read by the first query below.
        let wake = Wakeup()
        relays.withLock { $0.waiting[id] = wake }
        defer { relays.withLock { _ = $0.waiting.removeValue(forKey: id) } }

        var seen: [String: Int] = [:]
        var finals: [String: RemoteConsoleReply] = [:]
        let deadline = ContinuousClock.now + timeout
        while true {
            let rows = try await db.query(PostgresQuery(unsafeSQL: """
                SELECT instance, n, final, ok, text FROM switchboard_console_replies WHERE command = $1 ORDER BY n
                """, binds: PostgresEngine.binds(id)))
            for row in rows {
                let (who, n, final, ok, text) = try row.decode((String, Int, Bool, Bool, String).self)
                guard n > seen[who, default: 0], instances.contains(who) else { continue }
                seen[who] = n
                if final { finals[who] = RemoteConsoleReply(ok: ok, text: text) } else { await event(who, text) }
            }
            let left = deadline - ContinuousClock.now
            if finals.count == instances.count || left <= .zero { break }
            // A NOTIFY wakes us; the 250 ms are for one that never came.
            _ = await withDeadline(min(.milliseconds(250), left)) { await wake.wait() }
        }
        return instances.map { who in
            (who, finals[who] ?? RemoteConsoleReply(ok: false, text: "no answer from \(who) within \(timeout.short) (is it running, with \"console\": true on its bus?)"))
        }
    }

    /// A NOTIFY `a:<id>`: answers came for a command sent from here.
    func answered(_ payload: Substring) {
        guard let id = Int64(payload) else { return }
        relays.withLock { $0.waiting[id] }?.signal()
    }

    /// A NOTIFY `c:<id>`: a command; runs it here if this instance is one of its targets.
    func commanded(_ payload: Substring) {
        guard let id = Int64(payload) else { return }
        commanded(id)
    }

    /// Runs command `id` here unless it already ran here (a NOTIFY and the check at LISTEN's
    /// start may both name it).
    func commanded(_ id: Int64) {
        guard config.console else { return }
        let admitted = relays.withLock { r -> Bool? in
            guard r.served.insert(id).inserted else { return nil }
            if r.served.count > 1000, let oldest = r.served.min() { r.served.remove(oldest) }
            guard r.serving < 4 else { return false }
            r.serving += 1
            return true
        }
        guard let admitted else { return }
        guard admitted else {
            runtime.logger.warning("remote console command \(id) not run: four are running already")
            return
        }
        Task {
            defer { relays.withLock { $0.serving -= 1 } }
            await serve(id)
        }
    }

    /// At LISTEN's start: the commands for this instance that are still within their time and
    /// have no answer from it (sent while it was connecting, or while LISTEN was lost).
    func pendingCommands() async {
        guard config.console, let db = try? database.get() else { return }
        let rows = try? await db.query(PostgresQuery(unsafeSQL: """
            SELECT c.id FROM switchboard_console c
            WHERE c.bus = $1 AND $2 = ANY (c.targets) AND c.at > now() - make_interval(secs => c.limit_ms / 1000.0)
              AND NOT EXISTS (SELECT 1 FROM switchboard_console_replies r WHERE r.command = c.id AND r.instance = $2 AND r.final)
            ORDER BY c.id
            """, binds: { var b = PostgresBindings(); b.append(log.channel); b.append(instance); return b }()))
        for row in rows ?? [] {
            if let id = try? row.decode(Int64.self) { commanded(id) }
        }
    }

    private func serve(_ id: Int64) async {
        do {
            let db = try database.get()
            guard let row = try await db.query(PostgresQuery(unsafeSQL: """
                SELECT origin, line, limit_ms FROM switchboard_console WHERE id = $1 AND bus = $2 AND $3 = ANY (targets)
                """, binds: { var b = PostgresEngine.binds(id); b.append(log.channel); b.append(instance); return b }())).first
            else { return }
            let (origin, line, limitMS) = try row.decode((String, String, Int).self)
            runtime.logger.notice("remote console command from instance \(origin): \(line)")
            let counter = Mutex(0)
            let post: @Sendable (Bool, Bool, String) async -> Void = { [log] final, ok, text in
                let n = counter.withLock { n -> Int in n += 1; return n }
                // At most 1,000 lines per command reach the origin; the answer always does.
                guard final || n <= 1000 else { return }
                _ = try? await db.query(PostgresQuery(unsafeSQL: """
                    WITH r AS (INSERT INTO switchboard_console_replies (command, instance, n, final, ok, text) VALUES ($1, $2, $3, $4, $5, $6))
                    SELECT pg_notify($7, 'a:' || $1)
                    """, binds: {
                        var b = PostgresEngine.binds(id)
                        b.append(self.instance); b.append(n); b.append(final); b.append(ok); b.append(text); b.append(log.channel)
                        return b
                    }()))
            }
            guard let runner = system.remoteConsole else {
                await post(true, false, "instance \(instance) has no console to run commands")
                return
            }
            let limit = Duration.milliseconds(max(100, min(limitMS, 3_600_000)))
            let reply = await withDeadline(limit) { await runner(line, origin) { await post(false, true, $0) } }
                ?? RemoteConsoleReply(ok: true, text: "stopped after \(limit.short)")
            await post(true, reply.ok, reply.text)
        } catch {
            runtime.logger.warning("remote console command \(id) failed: \(error)")
        }
    }
}

/// The commands this instance sent and waits on, and how many it is running for others.
struct ConsoleRelays {
    var waiting: [Int64: Wakeup] = [:]
    var serving = 0
    /// The commands run here (the newest thousand).
    var served: Set<Int64> = []
}
