import PostgresNIO
import Switchboard
import SwitchboardChannels
import Synchronization

/// How a bus follows the shared log: a reader that emits new rows in order when woken, a
/// LISTEN connection and a poll that wake it.
extension BusComponent {
    // MARK: Reading

    /// Emits the log's new rows in `seq` order whenever woken: the rows NOTIFYs carried, and a
    /// read of the log when asked (a NOTIFY without rows, a gap in `seq`, LISTEN (re)connected,
    /// the poll, or more announced than the reader keeps).
    func read(into out: Chan<Message>, wake: Wakeup, inflow: Announcements) async {
        while await wake.wait() {
            do {
                while true {
                    let (rows, readLog) = inflow.take()
                    if rows.isEmpty && !readLog { break }
                    if readLog { guard try await catchUp(into: out) else { return } }
                    switch await emit(rows, into: out) {
                    case .done: break
                    case .closed: return
                    case .gap: guard try await catchUp(into: out) else { return }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                let failure = noted(error)
                state.withLock { $0.lastError = failure.description }
            }
        }
    }

    enum Emitted { case done, gap, closed }

    /// Emits the announced `rows` that follow the last `seq` emitted; stops at a gap (a row the
    /// NOTIFYs skipped: a rolled-back `seq`, or a chunk too large to announce).
    func emit(_ rows: [(seq: Int64, message: Message)], into out: Chan<Message>) async -> Emitted {
        for (seq, message) in rows {
            let last = state.withLock { $0.lastSeq ?? 0 }
            if seq <= last { continue }
            if seq != last + 1 { return .gap }
            MessageID.advance(past: message.id)
            // Counted before it is handed on, so that whoever has received it sees it counted;
            // `lastSeq` moves only once it is taken (a reload's replacement starts after it).
            state.withLock { s in
                s.read += 1
                s.announced += 1
            }
            guard case .accepted = await out.send(message) else { return .closed }
            state.withLock { $0.lastSeq = seq }
        }
        return .done
    }

    /// Reads the log after the last `seq` emitted and emits it; false when `out` is closed.
    func catchUp(into out: Chan<Message>) async throws -> Bool {
        let db = try database.get()
        state.withLock { $0.catchUps += 1 }
        while !Task.isCancelled {
            let after = state.withLock { $0.lastSeq ?? 0 }
            let rows: [(seq: Int64, message: Message)]
            do {
                let conn = try await reader.get(db)
                rows = try await db.within(db.queryTimeout, "no answer to the catch-up read") { [log] in try await log.read(after: after, limit: 1000, on: conn) }
            } catch {
                await reader.drop()
                throw error
            }
            for (seq, message) in rows {
                MessageID.advance(past: message.id)
                state.withLock { $0.read += 1 }
                guard case .accepted = await out.send(message) else { return false }
                state.withLock { $0.lastSeq = seq }
            }
            if rows.count < 1000 { return true }
        }
        return true
    }

    /// Holds a LISTEN connection; when it is lost, makes another (backing off up to 5 s) and
    /// wakes the reader to catch up on what went by meanwhile. A NOTIFY with a `p:` payload is
    /// another instance's presence, and wakes the presence reader instead.
    func listen(wake: Wakeup, presence: Wakeup, inflow: Announcements) async {
        let mine = SharedPresence.payload(instance)
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                let conn = try await database.get().connect()
                do {
                    try await conn.listen(on: log.channel) { notifications in
                        state.withLock { $0.listening = true }
                        backoff = .milliseconds(100)
                        inflow.readLog()
                        wake.signal()
                        presence.signal()
                        Task { await self.pendingCommands() }
                        for try await n in notifications {
                            state.withLock { $0.notifications += 1 }
                            let payload = n.payload
                            if payload.hasPrefix("r:"), let rows = BusLog.rows(announced: payload.dropFirst(2)) {
                                inflow.add(rows)
                                wake.signal()
                            } else if payload.hasPrefix("c:") {
                                commanded(payload.dropFirst(2))
                            } else if payload.hasPrefix("a:") {
                                answered(payload.dropFirst(2))
                            } else if !payload.hasPrefix("p:") {
                                inflow.readLog()
                                wake.signal()
                            } else if payload != mine {
                                presence.signal()
                            }
                        }
                    }
                } catch {
                    try? await conn.close()
                    throw error
                }
                try? await conn.close()
            } catch {
                if Task.isCancelled { break }
                let failure = noted(error)
                let wasListening = state.withLock { s -> Bool in
                    defer { s.listening = false }
                    if s.listening { s.listenLost += 1 }
                    s.lastError = failure.description
                    return s.listening
                }
                if wasListening { runtime.logger.warning("LISTEN connection lost; catching up from the log: \(failure)") }
                // The reader's and the upkeep's connections to the same server are most likely
                // gone too, and the catch-up this wakes must not be sent on one that is closing:
                // PostgresNIO (1.33) drops a query written to a channel that has just closed
                // without failing it, so it would wait out the whole query timeout (seen in the
                // outage test under load: "no answer to the catch-up read within 30 s").
                await reader.drop()
                await beats.drop()
            }
            state.withLock { $0.listening = false }
            inflow.readLog()
            wake.signal()
            guard (try? await Task.sleep(for: backoff)) != nil else { break }
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// Wakes the reader every `pollInterval`, covering a NOTIFY that never came.
    func poll(wake: Wakeup, inflow: Announcements) async {
        while (try? await Task.sleep(for: config.pollInterval)) != nil {
            inflow.readLog()
            wake.signal()
        }
        wake.finish()
    }
}

/// What the LISTEN connection hands the reader: the rows NOTIFYs announced, in commit order,
/// and whether the log must be read. Bounded: past `limit` rows waiting, they are dropped for
/// a read of the log (which has them all).
final class Announcements: Sendable {
    private struct State {
        var rows: [(seq: Int64, message: Message)] = []
        var readLog = false
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func add(_ rows: [(seq: Int64, message: Message)]) {
        state.withLock { s in
            if s.rows.count + rows.count > limit {
                s.rows.removeAll()
                s.readLog = true
            } else {
                s.rows += rows
            }
        }
    }

    func readLog() { state.withLock { $0.readLog = true } }

    /// What is waiting, taken.
    func take() -> (rows: [(seq: Int64, message: Message)], readLog: Bool) {
        state.withLock { s in
            defer { s = State() }
            return (s.rows, s.readLog)
        }
    }
}
