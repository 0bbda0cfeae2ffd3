import Foundation
import Logging
import PostgresNIO
import Switchboard
import SwitchboardChannels
import SwitchboardStore
import SwitchboardTesting
import Testing

/// `switchboard_publish`, the SQL function a bus installs: an application publishes inside its
/// own transaction, through the real `psql` and through postgres-nio, to instances on the test
/// run's PostgreSQL.
@Suite struct PublishFunctionTests {
    /// Runs `sql` through `psql` (stops at the first error); its exit status and output.
    static func psql(_ url: String, _ sql: String) async throws -> (status: Int32?, output: String) {
        let file = try temporaryDirectory() + "/script.sql"
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        let p = try LiveProcess("/usr/bin/psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-f", file, url])
        let status = await p.waitForExit(limit: .seconds(30))
        _ = await p.waitFor("\u{0}", limit: .milliseconds(1))  // the output after the exit
        return (status, p.text)
    }

    /// A database of the test's own on the run's server, so it holds exactly the buses the
    /// test starts.
    static func freshDatabase() async throws -> String {
        let base = try TestPostgres.url()
        let name = TestPostgres.uniqueName("db")
        let made = try await psql(base, "CREATE DATABASE \(name);")
        #expect(made.status == 0, "\(made.output)")
        var c = try #require(URLComponents(string: base))
        c.path = "/" + name
        return try #require(c.string)
    }

    static func texts(_ events: [SSEReader.Event]) -> [String] {
        events.map { (try? JSONParser.parse($0.data).value)?["text"]?.stringValue ?? "?" }
    }

    @Test func aCommittedTransactionReachesEveryInstanceInLogOrderAndARolledBackOneNobody() async throws {
        let url = try await Self.freshDatabase()
        let nodes = try await ClusterTests.instances(2, url: url, bus: "bus_chat", commitTimeout: "30s")
        defer { Task { for n in nodes { await n.stop() } } }
        var readers: [SSEReader] = []
        for n in nodes { readers.append(try await SSEReader(try await n.url("/events"))) }

        let first = try await nodes[0].postJSON("/messages", #"{"from": "ann", "text": "before"}"#)
        #expect(first.status == 202)
        // The README's example, as written: the application's own row and the message, one transaction.
        let committed = try await Self.psql(url, """
            CREATE TABLE orders (id int PRIMARY KEY, state text);
            BEGIN;
            INSERT INTO orders VALUES (42, 'shipped');
            SELECT switchboard_publish('', '{"from": "shop", "text": "order 42 shipped", "data": {"order": 42}}');
            COMMIT;
            """)
        #expect(committed.status == 0, "\(committed.output)")
        let sqlID = committed.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let rolledBack = try await Self.psql(url, """
            BEGIN;
            INSERT INTO orders VALUES (43, 'shipped');
            SELECT switchboard_publish('', '{"from": "shop", "text": "order 43 shipped"}');
            ROLLBACK;
            """)
        #expect(rolledBack.status == 0, "\(rolledBack.output)")
        let last = try await nodes[1].postJSON("/messages", #"{"from": "bob", "text": "after"}"#)

        var streams: [[SSEReader.Event]] = []
        for r in readers { streams.append(try await ClusterTests.read(3, from: r)) }
        for s in streams {
            #expect(Self.texts(s) == ["before", "order 42 shipped", "after"], "the rolled-back message reached nobody")
            #expect(s.map(\.id) == streams[0].map(\.id), "the same ids everywhere")
            #expect(s.compactMap { $0.id.flatMap(UInt64.init) } == s.compactMap { $0.id.flatMap(UInt64.init) }.sorted())
        }
        #expect(streams[0].map(\.id) == [first.body["id"]?.stringValue, sqlID, last.body["id"]?.stringValue])
        let shipped = try JSONParser.parse(streams[1][1].data).value
        #expect(shipped["from"] == "shop")
        #expect(shipped["data"]?["order"] == 42)
        let log = try await Self.psql(url, "SELECT text FROM bus_chat ORDER BY seq;")
        #expect(log.output.split(separator: "\n") == ["before", "order 42 shipped", "after"])
        let orders = try await Self.psql(url, "SELECT count(*) FROM orders;")
        #expect(orders.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test func publishesFromSQLAndHTTPAtOnceGetOneOrderAndGrowingIDsEverywhere() async throws {
        let url = try await Self.freshDatabase()
        let nodes = try await ClusterTests.instances(2, url: url, bus: "bus_chat", commitTimeout: "30s")
        defer { Task { for n in nodes { await n.stop() } } }
        var readers: [SSEReader] = []
        for n in nodes { readers.append(try await SSEReader(try await n.url("/events"))) }
        let shop = try Self.client(url)
        let running = Task { await shop.run() }
        defer { running.cancel() }
        let acked = try await withThrowingTaskGroup(of: [String].self) { group in
            for (i, node) in nodes.enumerated() {
                group.addTask {
                    var ids: [String] = []
                    for k in 0..<100 { ids.append(try #require(try await node.postJSON("/messages", #"{"text": "http \#(i) \#(k)"}"#).body["id"]?.stringValue)) }
                    return ids
                }
            }
            for writer in 0..<2 {
                group.addTask {
                    var ids: [String] = []
                    for k in 0..<100 {
                        let text = "sql \(writer) \(k)"
                        let id = try await shop.withTransaction(logger: Logger(label: "shop")) { conn in
                            var id: Int64 = 0
                            for try await v in try await conn.query("SELECT switchboard_publish('', jsonb_build_object('text', \(text)::text))", logger: conn.logger).decode(Int64.self) { id = v }
                            return id
                        }
                        ids.append(String(id))
                    }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(acked.count == 400)
        var streams: [[String]] = []
        for r in readers { streams.append(try await ClusterTests.read(400, from: r).compactMap(\.id)) }
        for s in streams {
            #expect(Set(s) == Set(acked), "every acked id once, and only those")
            #expect(s == streams[0], "one order everywhere")
            #expect(s.compactMap { UInt64($0) } == s.compactMap { UInt64($0) }.sorted(), "ids grow in log order")
        }
    }

    @Test func aMessageCommittedWhileAnInstanceIsDownReachesItsClientsWhenItReturns() async throws {
        let url = try await Self.freshDatabase()
        let system = { (name: String) in ClusterTests.system(url: url, bus: "bus_chat", instance: name, commitTimeout: "30s") }
        let up = try await WebHarness.start(system("node-1"))
        defer { Task { await up.stop() } }
        let down = try await WebHarness.start(system("node-2"))
        let watcher = try await SSEReader(try await up.url("/events?room=orders"))
        let client = try await SSEReader(try await down.url("/events?room=orders"))
        let hello = try await up.postJSON("/messages", #"{"from": "ann", "text": "hello", "room": "orders"}"#)
        #expect(try await ClusterTests.read(1, from: client).map(\.id) == [hello.body["id"]?.stringValue])
        await down.stop()

        // The guide's Swift example, with a client of the application's own.
        let shop = try Self.client(url)
        let running = Task { await shop.run() }
        defer { running.cancel() }
        _ = try await shop.query("CREATE TABLE orders (id int PRIMARY KEY, state text)")
        _ = try await shop.query("INSERT INTO orders VALUES (7, 'paid')")
        let id = try await ship(order: 7, room: "orders", client: shop)
        #expect(Self.texts(try await ClusterTests.read(2, from: watcher)) == ["hello", "order shipped"])

        // node-2 comes back; its client resumes from the last message it saw.
        let back = try await WebHarness.start(system("node-2"))
        defer { Task { await back.stop() } }
        let resumed = try await SSEReader(try await back.url("/events?room=orders"), headers: [("Last-Event-ID", hello.body["id"]?.stringValue ?? "")])
        let missed = try await ClusterTests.read(1, from: resumed)
        #expect(missed.map(\.id) == [String(id)])
        #expect(Self.texts(missed) == ["order shipped"])
        let state = try await shop.query("SELECT state FROM orders WHERE id = 7")
        for try await s in state.decode(String.self) { #expect(s == "shipped") }
    }

    @Test func aMessageTheFunctionCannotTakeIsRefusedNamingWhy() async throws {
        let url = try await Self.freshDatabase()
        let node = try await WebHarness.start(ClusterTests.system(url: url, bus: "bus_chat", instance: "node-1", commitTimeout: "30s"))
        defer { Task { await node.stop() } }
        let cases: [(call: String, error: String)] = [
            (#"switchboard_publish('lobby', '[1]')"#, "the message must be a JSON object like {\"text\": \"hi\"}, found array"),
            (#"switchboard_publish('lobby', '{"txt": "hi"}')"#, #"unknown field "txt"; a message has text, from, to, data"#),
            (#"switchboard_publish('lobby', '{"text": 5}')"#, #""text" must be a string, found number"#),
            (#"switchboard_publish('lobby', '{"text": "  "}')"#, "missing text"),
            (#"switchboard_publish('lobby', '{"text": "hi", "from": "\#(String(repeating: "x", count: 101))"}')"#, #""from" is longer than 100 characters"#),
            (#"switchboard_publish('other', 'lobby', '{"text": "hi"}')"#, #"no bus "other" in this database; its buses are: bus_chat"#),
        ]
        for c in cases {
            let r = try await Self.psql(url, "SELECT \(c.call);")
            #expect(r.status == 3, "\(c.call): \(r.output)")
            #expect(r.output.contains("ERROR:  switchboard_publish: " + c.error), "\(c.call): \(r.output)")
        }
        // The bus by its component's name (its table is the default bus_<name>), and by its table.
        for bus in ["chat", "bus_chat"] {
            let r = try await Self.psql(url, #"SELECT switchboard_publish('\#(bus)', 'lobby', '{"data": {"n": 1}}');"#)
            #expect(r.status == 0, "\(r.output)")
        }
        // A second bus in the database: the short form asks which.
        let other = try await WebHarness.start(ClusterTests.system(url: url, bus: "bus_more", instance: "node-2", commitTimeout: "30s"))
        defer { Task { await other.stop() } }
        let r = try await Self.psql(url, #"SELECT switchboard_publish('lobby', '{"text": "hi"}');"#)
        #expect(r.output.contains("this database has 2 buses (bus_chat, bus_more); name one: switchboard_publish(bus, room, message)"), "\(r.output)")
    }

    /// A pooled client of `url` (run it).
    static func client(_ url: String) throws -> PostgresClient {
        let c = try #require(URLComponents(string: url))
        return PostgresClient(configuration: .init(
            host: c.host ?? "127.0.0.1", port: c.port ?? 5432, username: c.user ?? "postgres", password: c.password,
            database: String(c.path.dropFirst()), tls: .disable))
    }
}

// The guide's example (SeveralInstances.md), compiled and run by the test above.

/// Marks an order shipped and tells its room, in one transaction: both happen or neither.
func ship(order: Int, room: String, client: PostgresClient) async throws -> Int64 {
    try await client.withTransaction(logger: Logger(label: "shop")) { conn in
        try await conn.query("UPDATE orders SET state = 'shipped' WHERE id = \(order)", logger: conn.logger)
        let message = #"{"from": "shop", "text": "order shipped"}"#
        let rows = try await conn.query("SELECT switchboard_publish(\(room), \(message)::jsonb)", logger: conn.logger)
        var id: Int64 = 0
        for try await value in rows.decode(Int64.self) { id = value }
        return id
    }
}
