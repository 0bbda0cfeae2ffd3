import PostgresNIO

/// `switchboard_publish`: the SQL function a bus installs so that an application publishes from
/// inside its own transaction (as Centrifugo's `cf_stream_publish`). The message joins the
/// bus's log like any other — the head row's lock gives it its place and its id — and the
/// NOTIFY that wakes the instances is sent by PostgreSQL when the transaction commits, so a
/// rolled-back transaction publishes nothing.
///
/// ```sql
/// BEGIN;
/// INSERT INTO orders ...;
/// SELECT switchboard_publish('lobby', '{"from": "shop", "text": "order 42 shipped"}');
/// COMMIT;
/// ```
///
/// The message is checked as `POST /messages` checks one (`text` not blank unless `data` is
/// given; `from` and `to` trimmed, at most 100 characters; no other field); the room is an
/// argument (NULL or empty: the default room). It skips the local channel's transforms: what
/// the application writes is what clients get.
///
/// The head row stays locked until the transaction ends, so every other publish of the bus
/// waits for it: call the function last, just before COMMIT.
///
/// Written in SQL rather than by an instance: only the database sees the transaction.
enum PublishFunction {
    /// Bumped when the functions change; an instance replaces older ones at start.
    static let version = "switchboard_publish 2"

    /// `switchboard_publish(bus, room, message)`: `bus` is the bus's table, or the bus's
    /// component name when its table is the default `bus_<name>`.
    static let withBus = #"""
        CREATE OR REPLACE FUNCTION switchboard_publish(bus text, room text, message jsonb) RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $fn$
        DECLARE
          target text;
          row_seq bigint;
          announcement text;
          head bigint;
          now_us bigint;
          new_id bigint;
          body text;
          sender text;
          recipient text;
          place text;
          payload jsonb;
          key text;
          known text;
        BEGIN
          IF message IS NULL OR jsonb_typeof(message) <> 'object' THEN
            RAISE EXCEPTION 'switchboard_publish: the message must be a JSON object like {"text": "hi"}, found %',
              coalesce(jsonb_typeof(message), 'NULL') USING ERRCODE = '22023';
          END IF;
          SELECT k INTO key FROM jsonb_object_keys(message) AS k WHERE k NOT IN ('text', 'from', 'to', 'data') ORDER BY k LIMIT 1;
          IF key IS NOT NULL THEN
            RAISE EXCEPTION 'switchboard_publish: unknown field "%"; a message has text, from, to, data (the room is the argument before it)',
              key USING ERRCODE = '22023';
          END IF;
          FOREACH key IN ARRAY ARRAY['text', 'from', 'to'] LOOP
            IF jsonb_typeof(message -> key) NOT IN ('string', 'null') THEN
              RAISE EXCEPTION 'switchboard_publish: "%" must be a string, found %', key, jsonb_typeof(message -> key) USING ERRCODE = '22023';
            END IF;
          END LOOP;
          payload := nullif(message -> 'data', 'null'::jsonb);
          body := coalesce(message ->> 'text', '');
          IF btrim(body, E' \t\n\r') = '' AND payload IS NULL THEN
            RAISE EXCEPTION 'switchboard_publish: missing text (a message has a text that is not blank, or data)' USING ERRCODE = '22023';
          END IF;
          IF octet_length(body) + coalesce(octet_length(payload::text), 0) > 16777216 THEN
            RAISE EXCEPTION 'switchboard_publish: the message is % bytes; the limit is 16777216',
              octet_length(body) + coalesce(octet_length(payload::text), 0)
              USING ERRCODE = '54000';
          END IF;
          sender := nullif(btrim(message ->> 'from', E' \t\n\r'), '');
          recipient := nullif(btrim(message ->> 'to', E' \t\n\r'), '');
          place := nullif(btrim(room, E' \t\n\r'), '');
          IF char_length(sender) > 100 OR char_length(recipient) > 100 OR char_length(place) > 100 THEN
            RAISE EXCEPTION 'switchboard_publish: "%" is longer than 100 characters',
              CASE WHEN char_length(place) > 100 THEN 'room' WHEN char_length(sender) > 100 THEN 'from' ELSE 'to' END
              USING ERRCODE = '22023';
          END IF;

          -- The head row's lock orders this insert among every writer's, until COMMIT.
          SELECT h.bus, h.last_id INTO target, head FROM switchboard_bus_head h
            WHERE h.bus = switchboard_publish.bus OR (h.bus = 'bus_' || switchboard_publish.bus AND NOT EXISTS (
              SELECT 1 FROM switchboard_bus_head e WHERE e.bus = switchboard_publish.bus))
            FOR UPDATE;
          IF target IS NULL THEN
            SELECT string_agg(h.bus, ', ' ORDER BY h.bus) INTO known FROM switchboard_bus_head h;
            RAISE EXCEPTION 'switchboard_publish: no bus "%" in this database; its buses are: %', bus, coalesce(known, 'none')
              USING ERRCODE = '42704';
          END IF;
          now_us := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
          new_id := greatest(head + 1, now_us);
          EXECUTE format('INSERT INTO %I (id, time, room, sender, recipient, text, data, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq', target)
            INTO row_seq
            USING new_id, now_us, place, coalesce(sender, 'database'), recipient, body, payload::text, 'sql:' || session_user;
          UPDATE switchboard_bus_head h SET last_id = new_id WHERE h.bus = target;
          -- Announced as the bus announces a batch (BusLog.announce): the row itself, when it fits.
          announcement := 'r:[' || json_build_array(row_seq, new_id, now_us, place, coalesce(sender, 'database'), recipient, body, payload, NULL)::text || ']';
          PERFORM pg_notify(target, CASE WHEN octet_length(announcement) <= 7900 THEN announcement ELSE '' END);
          RETURN new_id;
        END
        $fn$
        """#

    /// `switchboard_publish(room, message)`: the database's only bus.
    static let withoutBus = #"""
        CREATE OR REPLACE FUNCTION switchboard_publish(room text, message jsonb) RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $fn$
        DECLARE
          buses text[];
        BEGIN
          SELECT array_agg(h.bus ORDER BY h.bus) INTO buses FROM switchboard_bus_head h;
          IF coalesce(cardinality(buses), 0) <> 1 THEN
            RAISE EXCEPTION 'switchboard_publish: this database has % buses (%); name one: switchboard_publish(bus, room, message)',
              coalesce(cardinality(buses), 0), coalesce(array_to_string(buses, ', '), 'none') USING ERRCODE = '42725';
          END IF;
          RETURN switchboard_publish(buses[1], room, message);
        END
        $fn$
        """#

    /// Installs the functions unless this version is there, under a lock (instances starting
    /// together would otherwise race on the catalog).
    static func install(on conn: PostgresConnection) async throws {
        try await conn.query("SELECT pg_advisory_xact_lock(hashtext('switchboard_publish'))", logger: conn.logger)
        var installed = 0
        for try await n in try await conn.query("""
            SELECT count(*)::int FROM pg_proc WHERE proname = 'switchboard_publish' AND obj_description(oid, 'pg_proc') = \(version)
            """, logger: conn.logger).decode(Int.self) {
            installed = n
        }
        guard installed < 2 else { return }
        for sql in [withBus, withoutBus] { try await conn.query(PostgresQuery(unsafeSQL: sql), logger: conn.logger) }
        let comment = version.replacingOccurrences(of: "'", with: "''")
        try await conn.query(PostgresQuery(unsafeSQL: "COMMENT ON FUNCTION switchboard_publish(text, text, jsonb) IS '\(comment)'"), logger: conn.logger)
        try await conn.query(PostgresQuery(unsafeSQL: "COMMENT ON FUNCTION switchboard_publish(text, jsonb) IS '\(comment)'"), logger: conn.logger)
    }
}
