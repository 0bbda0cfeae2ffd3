import Foundation
import PostgresNIO
import Switchboard
import SwitchboardChannels
import Synchronization

/// Who is connected, across instances: each instance keeps one row per room with its users in
/// `switchboard_presence`, rewritten when they change and announced with a NOTIFY on the bus's
/// channel (payload `p:` and the instance). Every instance reads the rows of the other live
/// instances (a heartbeat within three beats) on such a NOTIFY, after LISTEN comes back and at
/// every heartbeat, so an instance that dies without a word drops out within three beats.
final class SharedPresence: Sendable {
    struct State {
        /// This instance's users per room, as the presence component last said.
        var local: [String: Set<String>] = [:]
        /// Rooms whose row is not written yet.
        var dirty: Set<String> = []
        /// The other live instances' users per room, as last read.
        var remote: [String: Set<String>] = [:]
        var followers: [UInt64: @Sendable ([String: Set<String>]) -> Void] = [:]
        var nextFollower: UInt64 = 0
        var writes = 0
        var reads = 0
    }

    let state = Mutex(State())

    /// The table (made when an engine opens the database).
    static let table = """
        CREATE TABLE IF NOT EXISTS switchboard_presence (
            bus text NOT NULL, instance text NOT NULL, room text NOT NULL, users text[] NOT NULL,
            PRIMARY KEY (bus, instance, room))
        """

    /// The NOTIFY payload announcing a change of `instance`.
    static func payload(_ instance: String) -> String { "p:" + instance }

    /// Sets the remote users and tells the followers when that changed.
    func setRemote(_ remote: [String: Set<String>]) {
        let followers = state.withLock { s -> [@Sendable ([String: Set<String>]) -> Void] in
            s.reads += 1
            guard s.remote != remote else { return [] }
            s.remote = remote
            return Array(s.followers.values)
        }
        for f in followers { f(remote) }
    }
}

extension BusComponent: PresenceSharing {
    public func sharePresence(room: String, users: Set<String>) {
        presence.state.withLock { s in
            s.local[room] = users.isEmpty ? nil : users
            s.dirty.insert(room)
        }
        state.withLock { $0.running?.presenceWritten }?.signal()
    }

    public func followPresence(_ remote: @escaping @Sendable ([String: Set<String>]) -> Void) -> @Sendable () -> Void {
        let (id, now) = presence.state.withLock { s in
            s.nextFollower += 1
            s.followers[s.nextFollower] = remote
            return (s.nextFollower, s.remote)
        }
        remote(now)
        state.withLock { $0.running?.presenceRead }?.signal()  // what the others have now
        return { [presence] in _ = presence.state.withLock { $0.followers.removeValue(forKey: id) } }
    }

    /// Writes the rows of the rooms whose users changed, whenever woken; starts by removing
    /// this instance's rows of an earlier run and writing every room it knows.
    func writePresence(wake: Wakeup) async {
        do {
            try await removeRows()
        } catch {
            state.withLock { $0.lastError = "presence: \(noted(error))" }
        }
        presence.state.withLock { $0.dirty.formUnion($0.local.keys) }
        while await wake.wait() {
            let rooms = presence.state.withLock { s -> [(String, [String])] in
                defer { s.dirty = [] }
                return s.dirty.sorted().map { ($0, (s.local[$0] ?? []).sorted()) }
            }
            for (i, (room, users)) in rooms.enumerated() {
                do {
                    try await writeRow(room: room, users: users)
                    presence.state.withLock { $0.writes += 1 }
                } catch {
                    // Written again at the next heartbeat (or change).
                    presence.state.withLock { $0.dirty.formUnion(rooms[i...].map(\.0)) }
                    state.withLock { $0.lastError = "presence: \(noted(error))" }
                    break
                }
            }
        }
    }

    /// Writes the row of `room` (removes it when nobody is there) and announces it.
    private func writeRow(room: String, users: [String]) async throws {
        let (table, channel, announce) = (log.engine.table, log.channel, SharedPresence.payload(instance))
        _ = try await beats.query(users.isEmpty ? """
            WITH gone AS (DELETE FROM switchboard_presence WHERE bus = \(table) AND instance = \(instance) AND room = \(room))
            SELECT pg_notify(\(channel), \(announce))
            """ : """
            WITH up AS (INSERT INTO switchboard_presence (bus, instance, room, users) VALUES (\(table), \(instance), \(room), \(users))
              ON CONFLICT (bus, instance, room) DO UPDATE SET users = excluded.users)
            SELECT pg_notify(\(channel), \(announce))
            """, on: database.get())
    }

    /// Removes every row of this instance and announces it.
    private func removeRows() async throws {
        _ = try await beats.query("""
            WITH gone AS (DELETE FROM switchboard_presence WHERE bus = \(log.engine.table) AND instance = \(instance))
            SELECT pg_notify(\(log.channel), \(SharedPresence.payload(instance)))
            """, on: database.get())
    }

    /// Reads the other live instances' users whenever woken, while a presence component follows.
    func readPresence(wake: Wakeup) async {
        while await wake.wait() {
            guard presence.state.withLock({ !$0.followers.isEmpty }) else { continue }
            do {
                let seconds = (config.heartbeat * 3).milliseconds / 1000
                let rows = try await beats.query("""
                    SELECT p.room, p.users FROM switchboard_presence p
                    JOIN switchboard_instances i ON i.bus = p.bus AND i.name = p.instance
                    WHERE p.bus = \(log.engine.table) AND p.instance <> \(instance) AND i.state = 'running'
                      AND i.last_seen > now() - make_interval(secs => \(seconds))
                    """, on: database.get())
                var remote: [String: Set<String>] = [:]
                for row in rows {
                    let (room, users) = try row.decode((String, [String]).self)
                    remote[room, default: []].formUnion(users)
                }
                presence.setRemote(remote)
            } catch {
                if Task.isCancelled { return }
                state.withLock { $0.lastError = "presence: \(noted(error))" }
            }
        }
    }

    /// At stop: this instance's rows go, and the others hear of it at once.
    func withdrawPresence() async {
        try? await removeRows()
        presence.setRemote([:])
    }
}
