import Foundation
import Logging
import Switchboard
import SwitchboardChannels
import SwitchboardStore
import SwitchboardTesting
import Testing

/// The engines every engine-independent test runs against.
enum EngineKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite
    case postgres

    var description: String { rawValue }

    /// A fresh, empty engine in its own place (`dir` names it: the same `dir` is the same store).
    func make(_ dir: String) async throws -> any StoreEngine {
        switch self {
        case .sqlite: SQLiteEngine(path: dir + "/store.sqlite", lockTimeout: .milliseconds(200), logger: .tests)
        case .postgres:
            PostgresEngine(table: "t_" + URL(fileURLWithPath: dir).lastPathComponent.filter { $0.isLetter || $0.isNumber }.lowercased(),
                           database: try await TestDatabase.shared())
        }
    }
}

/// One `postgres` component on the test run's server, started on first use; generous timeouts,
/// since these tests are about the engine, and a loaded CI machine is slow to answer.
enum TestDatabase {
    private static let started = Task { () throws -> (SystemMap, PostgresComponent) in
        var registry = ComponentRegistry()
        registry.register(StoreComponents.types)
        let url = try TestPostgres.url()
        let system = try SystemLoader(registry: registry, environment: ["DATABASE_URL": url], logger: .tests)
            .load(text: #"{"components": {"db": {"type": "postgres", "url": {"$env": "DATABASE_URL"}, "poolSize": 8, "connectTimeout": "10s", "queryTimeout": "30s"}}}"#)
        let map = SystemMap(system, logger: .tests)
        try await map.start()
        let db = try #require(await map.instance(named: "db") as? PostgresComponent)
        return (map, db)
    }

    static func shared() async throws -> PostgresComponent { try await started.value.1 }
}

/// `n` messages with growing ids, alternating rooms a/b (every third in no room).
func messages(_ n: Int, start: UInt64 = 1_000_000, time: Date = Date()) -> [Message] {
    (0..<n).map { (i: Int) -> Message in
        let room: String? = i % 3 == 2 ? nil : (i % 2 == 0 ? "a" : "b")
        return Message(from: "u\(i % 3)", text: "m\(i)", room: room, id: MessageID(rawValue: start + UInt64(i)), time: time)
    }
}

@Suite struct StoreEngineTests {
    @Test(arguments: EngineKind.allCases)
    func appendsAndPagesBothWays(_ kind: EngineKind) async throws {
        let engine = try await kind.make(try temporaryDirectory())
        try await engine.open()
        let all = messages(120)
        try await engine.append(Array(all[..<70]))
        try await engine.append(Array(all[70...]))
        #expect(try await engine.newestID() == all.last?.id)

        // Newest first, then older pages through `next`, every message once.
        var seen: [MessageID] = []
        var page = try await engine.page(HistoryQuery(room: nil, cursor: .latest, limit: 50))
        seen += page.messages.map(\.id)
        while let next = page.next {
            page = try await engine.page(HistoryQuery(room: nil, cursor: .before(next), limit: 50))
            seen += page.messages.map(\.id)
        }
        #expect(seen == all.map(\.id).reversed())

        // Oldest first after an id.
        let after = try await engine.page(HistoryQuery(room: nil, cursor: .after(all[9].id), limit: 5))
        #expect(after.messages.map(\.id) == all[10..<15].map(\.id))
        #expect(after.next == all[14].id)

        // A room; the default room takes the messages that name none.
        let b = try await engine.page(HistoryQuery(room: "b", cursor: .latest, limit: 500))
        #expect(b.messages.map(\.id) == all.filter { $0.room == "b" }.map(\.id).reversed())
        #expect(b.next == nil)
        let lobby = try await engine.page(HistoryQuery(room: "lobby", defaultRoom: "lobby", cursor: .latest, limit: 500))
        #expect(lobby.messages.count == all.filter { $0.room == nil }.count)
        let a = try await engine.page(HistoryQuery(room: "a", defaultRoom: "a", cursor: .latest, limit: 500))
        #expect(a.messages.count == all.filter { $0.room == nil || $0.room == "a" }.count)
        await engine.close()
    }

    @Test(arguments: EngineKind.allCases)
    func keepsEveryFieldAndSurvivesReopening(_ kind: EngineKind) async throws {
        let dir = try temporaryDirectory()
        let engine = try await kind.make(dir)
        try await engine.open()
        let m = Message(from: "ann", text: "see `x` — ünïcödé 🎉", room: "dev", to: "bob", data: ["k": [1, 2]],
                        id: MessageID(rawValue: 42), time: Date(timeIntervalSince1970: 1_700_000_000.123456),
                        spans: [TextSpan(kind: "code", start: 4, length: 3)])
        try await engine.append([m, m])  // a repeat of an id is ignored, not an error
        await engine.close()

        let again = try await kind.make(dir)
        try await again.open()
        let page = try await again.page(HistoryQuery(room: nil, cursor: .latest, limit: 10))
        #expect(page.messages.count == 1)
        let back = try #require(page.messages.first)
        #expect(back.id == m.id && back.from == m.from && back.text == m.text && back.room == m.room && back.to == m.to)
        #expect(back.data == m.data && back.spans == m.spans)
        #expect(abs(back.time.timeIntervalSince1970 - m.time.timeIntervalSince1970) < 0.000_002)
        await again.close()
    }

    @Test(arguments: EngineKind.allCases)
    func retentionByCount(_ kind: EngineKind) async throws {
        let engine = try await kind.make(try temporaryDirectory())
        try await engine.open()
        let all = messages(2500)
        try await engine.append(all)
        #expect(try await engine.prunedThrough() == nil)
        var removed = 0
        while true {
            let n = try await engine.prune(Retention(maxMessages: 100), now: Date(), limit: 1000)
            removed += n
            if n < 1000 { break }
        }
        #expect(removed == 2400)
        let f = try await engine.figures()
        #expect(f.rows == 100)
        #expect(f.oldest?.id == all[2400].id && f.newest?.id == all.last?.id)
        #expect(try await engine.prunedThrough() == all[2399].id)
        #expect(f.bytesOnDisk > 0)
        await engine.close()
    }

    @Test(arguments: EngineKind.allCases)
    func retentionByAge(_ kind: EngineKind) async throws {
        let engine = try await kind.make(try temporaryDirectory())
        try await engine.open()
        let now = Date()
        let old = messages(30, start: 1_000, time: now.addingTimeInterval(-3 * 86_400))
        let recent = messages(20, start: 5_000, time: now.addingTimeInterval(-3600))
        try await engine.append(old + recent)
        #expect(try await engine.prune(Retention(maxAge: .seconds(2 * 86_400)), now: now, limit: 1000) == 30)
        let left = try await engine.page(HistoryQuery(room: nil, cursor: .after(MessageID(rawValue: 1)), limit: 100))
        #expect(left.messages.map(\.id) == recent.map(\.id))
        #expect(try await engine.prunedThrough() == old.last?.id)
        // Both limits: either one removes.
        #expect(try await engine.prune(Retention(maxAge: .seconds(86_400 * 7), maxMessages: 5), now: now, limit: 1000) == 15)
        await engine.close()
    }
}

@Suite struct SQLiteFailureTests {
    @Test func anUnwritableDirectoryIsAClearStartFailure() async throws {
        let dir = try temporaryDirectory()
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: dir)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir) }
        // root ignores permissions: then the test uses a path under a regular file instead.
        let blocked = getuid() == 0 ? try blockingFile(dir) + "/sub/store.sqlite" : dir + "/sub/store.sqlite"
        let engine = SQLiteEngine(path: blocked, logger: .tests)
        let error = await #expect(throws: StoreFailure.self) { try await engine.open() }
        #expect(error?.reason == .unwritable)
        #expect(error?.description.contains(blocked) == true)
    }

    @Test func aFileThatIsNotADatabaseIsAClearStartFailure() async throws {
        let path = try temporaryDirectory() + "/junk.sqlite"
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        let engine = SQLiteEngine(path: path, logger: .tests)
        let error = await #expect(throws: StoreFailure.self) { try await engine.open() }
        #expect(error?.reason == .corrupt)
        #expect(error?.description.contains(path) == true)
    }

    @Test func aDatabaseLockedByAnotherProcessIsAClearStartFailure() async throws {
        let path = try temporaryDirectory() + "/locked.sqlite"
        let first = SQLiteEngine(path: path, logger: .tests)
        try await first.open()
        await first.close()
        let holder = try await SQLiteLockHolder.lock(path)
        let engine = SQLiteEngine(path: path, lockTimeout: .milliseconds(100), logger: .tests)
        let error = await #expect(throws: StoreFailure.self) { try await engine.open() }
        await holder.release()
        #expect(error?.reason == .locked)
        #expect(error?.description.contains("locked by another process") == true)
        // Once the other process is gone, it opens.
        try await engine.open()
        await engine.close()
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let path = try temporaryDirectory() + "/newer.sqlite"
        let engine = SQLiteEngine(path: path, logger: .tests)
        try await engine.open()
        await engine.close()
        let bump = try LiveProcess("/usr/bin/python3", ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version = 99'); c.commit(); print('done')", path])
        #expect(await bump.waitForExit() == 0)
        let error = await #expect(throws: StoreFailure.self) { try await engine.open() }
        #expect(error?.reason == .newerSchema)
    }

    /// A regular file inside `dir`, so that a path through it cannot be created even by root.
    private func blockingFile(_ dir: String) throws -> String {
        let path = dir + "/plain-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}
