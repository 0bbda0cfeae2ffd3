import PostgresNIO
import Switchboard
import SwitchboardChannels

/// How a bus follows the shared log: a reader that emits new rows in order when woken, a
/// LISTEN connection and a poll that wake it.
extension BusComponent {
    // MARK: Reading

    /// Emits the log's new rows in `seq` order whenever woken: by a NOTIFY, by this instance's
    /// own commit, by the poll, or after LISTEN (re)connects.
    func read(into out: Chan<Message>, wake: Wakeup) async {
        while await wake.wait() {
            do {
                try await catchUp(into: out)
            } catch {
                if Task.isCancelled { return }
                let failure = noted(error)
                state.withLock { $0.lastError = failure.description }
            }
        }
    }

    func catchUp(into out: Chan<Message>) async throws {
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
    /// wakes the reader to catch up on what went by meanwhile. A NOTIFY with a `p:` payload is
    /// another instance's presence, and wakes the presence reader instead.
    func listen(wake: Wakeup, presence: Wakeup) async {
        let mine = SharedPresence.payload(instance)
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                let conn = try await database.get().connect()
                do {
                    try await conn.listen(on: log.channel) { notifications in
                        state.withLock { $0.listening = true }
                        backoff = .milliseconds(100)
                        wake.signal()
                        presence.signal()
                        for try await n in notifications {
                            if !n.payload.hasPrefix("p:") {
                                wake.signal()
                            } else if n.payload != mine {
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
            }
            state.withLock { $0.listening = false }
            wake.signal()
            guard (try? await Task.sleep(for: backoff)) != nil else { break }
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// Wakes the reader every `pollInterval`, covering a NOTIFY that never came.
    func poll(wake: Wakeup) async {
        while (try? await Task.sleep(for: config.pollInterval)) != nil { wake.signal() }
        wake.finish()
    }
}
