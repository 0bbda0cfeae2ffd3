import Foundation
import Switchboard
import SwitchboardStore
import SwitchboardTesting
import Testing

/// A database that an earlier build made is brought forward by this one; one that a newer
/// build made is refused, naming why.
@Suite struct SchemaUpgradeTests {
    /// The tables `main` made before the shared tables had a schema version (03550e9, the
    /// 2026-12-05 morning), with a message in the log and an instance's heartbeat.
    static let earlierTables = """
        CREATE TABLE switchboard_schema (name text PRIMARY KEY, version int NOT NULL);
        CREATE TABLE switchboard_meta (scope text NOT NULL, key text NOT NULL, value bigint NOT NULL, PRIMARY KEY (scope, key));
        CREATE TABLE switchboard_instances (
            bus text NOT NULL, name text NOT NULL, pid int NOT NULL, started timestamptz NOT NULL,
            last_seen timestamptz NOT NULL, subscribers int NOT NULL, state text NOT NULL,
            PRIMARY KEY (bus, name));
        CREATE TABLE switchboard_bus_head (bus text PRIMARY KEY, last_id bigint NOT NULL);
        CREATE TABLE switchboard_presence (
            bus text NOT NULL, instance text NOT NULL, room text NOT NULL, users text[] NOT NULL,
            PRIMARY KEY (bus, instance, room));
        CREATE TABLE bus_chat (
            seq bigserial UNIQUE, id bigint PRIMARY KEY, time bigint NOT NULL, room text, sender text NOT NULL,
            recipient text, text text NOT NULL, data text, spans text, origin text);
        CREATE INDEX "bus_chat_room" ON bus_chat (room, id);
        CREATE INDEX "bus_chat_time" ON bus_chat (time);
        INSERT INTO switchboard_schema VALUES ('bus_chat', 1);
        INSERT INTO bus_chat (id, time, sender, text, origin) VALUES (1700000000000000, 1700000000000000, 'ann', 'from before the upgrade', 'node-0');
        INSERT INTO switchboard_bus_head VALUES ('bus_chat', 1700000000000000);
        INSERT INTO switchboard_instances VALUES ('bus_chat', 'node-0', 1, now(), now(), 0, 'stopped');
        """

    @Test func anEarlierDatabaseIsUpgradedAndANewerOneRefused() async throws {
        let url = try await PublishFunctionTests.freshDatabase()
        let made = try await PublishFunctionTests.psql(url, Self.earlierTables)
        #expect(made.status == 0, "\(made.output)")
        let system = ClusterTests.system(url: url, bus: "bus_chat", instance: "node-1", commitTimeout: "30s")

        let node = try await WebHarness.start(system)
        let reader = try await SSEReader(try await node.url("/events"), headers: [("Last-Event-ID", "1")])
        let old = try await ClusterTests.read(1, from: reader)
        #expect(PublishFunctionTests.texts(old) == ["from before the upgrade"])
        #expect(old.first?.id == "1700000000000000")
        let new = try await node.postJSON("/messages", #"{"text": "after"}"#)
        #expect(new.status == 202)
        #expect(PublishFunctionTests.texts(try await ClusterTests.read(1, from: reader)) == ["after"])
        let schema = try await PublishFunctionTests.psql(url, "SELECT name || '=' || version FROM switchboard_schema ORDER BY name;")
        #expect(schema.output.split(separator: "\n") == ["(shared)=2", "bus_chat=1"])
        // The column the upgrade added is written by the heartbeat.
        // (A heartbeat between a commit and its emission reads 1; the next one, 0.)
        let bus = try await node.component("bus", as: BusComponent.self)
        try await waitUntil("a heartbeat with the lag") { try await bus.console([]).data["instances"]?.arrayValue?.first?["lag"]?.intValue == 0 }
        await node.stop()

        // A newer build's database: refused at start, saying so.
        _ = try await PublishFunctionTests.psql(url, "UPDATE switchboard_schema SET version = 99 WHERE name = '(shared)';")
        let refusal = await #expect(throws: (any Error).self) { try await WebHarness.start(system, logger: .expectingFailures) }
        let text = refusal.map { String(describing: $0) } ?? ""
        #expect(text.contains("newer Switchboard") && text.contains("the shared tables are at schema version 99; this build knows up to 2"), "\(text)")
    }
}
